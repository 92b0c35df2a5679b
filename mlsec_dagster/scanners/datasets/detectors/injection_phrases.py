# ruff: noqa: RUF001, RUF002
# (phrase tables in Russian, Chinese and Japanese must contain Cyrillic letters and CJK punctuation)
"""Prompt-injection phrase tables: data only, assembled into regexes by ``injection.py``.

Phrases are public facts collected from injection corpora and grammars (the rebuff verb × adjective
× noun grammar, Vigil's YARA rules, garak's jailbreak prompts, published multilingual jailbreaks);
the tables are written by hand for each language. In every fragment a single space means "one or
more whitespace characters"; fragments are otherwise regex syntax valid in polars (Rust) and Python.
Matching is case-insensitive; ``(?-i:...)`` marks the rare case-sensitive part (DAN).

``CATEGORY_ANCHORS`` are the cheap literals of the vectorised prefilter: every phrase of a category
contains one of its anchors, which the tests check by walking each phrase regex.
"""

from __future__ import annotations

# fmt: off

# --- instruction override ---------------------------------------------------------------------------
# A phrase = VERB then one of: QUANT [DET] ADJ* NOUN [ADJ] | POSS ADJ* NOUN [ADJ] | [DET] ADJ+ NOUN
# | [DET] NOUN ADJ. "my" is never a determiner: "ignore my previous instructions" is a user correcting
# themselves in chat data, not an attack.

OVERRIDE: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "verbs": ("ignore", "disregard", "forget", "skip", "override", "bypass", "neglect", "discard",
                  "disobey", "set aside", "throw away"),
        "quant": ("all", "all of", "any", "any of", "every", "each of"),
        "poss": ("your", "all your", "all of your"),
        "det": ("the", "these", "those", "its", "this", "that"),
        "adj": ("previous", "prior", "above", "earlier", "preceding", "foregoing", "original", "initial",
                "old", "system", "former", "past", "given", "safety", "hidden", "pre-?prompt",
                "above-?mentioned"),
        "nouns": ("instructions?", "rules?", "directions?", "context", "prompts?", "guidelines?",
                  "directives?", "commands?", "orders?", "constraints?", "restrictions?", "programming",
                  "guardrails?", "polic(?:y|ies)", "system prompt"),
    },
    "es": {
        "verbs": ("ignora", "ignore", "ignoren", "ignorad", "ignorar", "olvida", "olvide", "olviden",
                  "olvidad", "olvidar", "omite", "omita", "descarta", "descarte",
                  "no hagas caso (?:a|de)", "no sigas"),
        "quant": ("todas las", "todos los", "todas", "todos", "cualquier"),
        "poss": ("tus", "sus", "vuestras", "todas tus", "todas sus"),
        "det": ("las", "los", "estas", "esas", "dichas"),
        "adj": ("anteriores", "previas", "precedentes", "de arriba", "del sistema", "originales",
                "iniciales", "recibidas", "dadas", "anteriormente dadas", "de seguridad"),
        "nouns": ("instrucciones", "instrucción", "indicaciones", "reglas", "órdenes", "ordenes",
                  "directrices", "normas", "restricciones", "pautas", "directivas"),
    },
    "de": {
        "verbs": ("ignoriere", "ignorier", "ignorieren sie", "ignoriert", "vergiss", "vergessen sie",
                  "vergesst", "missachte", "missachten sie", "überspringe"),
        "quant": ("alle", "sämtliche", "jegliche", "alle deine", "alle ihre", "alle bisherigen"),
        "poss": ("deine", "ihre", "eure"),
        "det": ("die", "diese", "jene"),
        "adj": ("bisherigen", "vorherigen", "vorigen", "früheren", "obigen", "vorangegangenen",
                "vorangehenden", "ursprünglichen", "alten", "vorherige", "bisherige", "obige",
                "ursprüngliche", "anfänglichen", "vorgegebenen", "gegebenen", "oben genannten"),
        "nouns": ("anweisungen", "anweisung", "instruktionen", "befehle", "regeln", "vorgaben",
                  "richtlinien", "anordnungen", "systemanweisungen", "system-?anweisungen",
                  "einschränkungen", "beschränkungen", "systemprompts?"),
    },
    "fr": {
        "verbs": ("ignore", "ignorez", "ignorer", "oublie", "oubliez", "oublier",
                  "ne tiens pas compte (?:des|de)",
                  "ne tenez pas compte (?:des|de)", "fais abstraction (?:des|de)",
                  "faites abstraction (?:des|de)",
                  "passe outre", "outrepasse"),
        "quant": ("toutes les", "tous les", "toutes", "tous", "l'ensemble des"),
        "poss": ("tes", "vos", "toutes tes", "toutes vos"),
        "det": ("les", "ces", "la", "le"),
        "adj": ("précédentes", "precedentes", "précédents", "antérieures", "anterieures", "ci-dessus",
                "initiales", "originales", "d'origine", "du système", "du systeme", "système", "systeme",
                "données", "reçues", "de sécurité", "précédente"),
        "nouns": ("instructions", "instruction", "consignes", "consigne", "règles", "regles", "directives",
                  "ordres", "commandes", "indications", "restrictions", "contraintes"),
    },
    "pt": {
        "verbs": ("ignore", "ignora", "ignorem", "ignorar", "esqueça", "esqueca", "esquece", "esqueçam",
                  "desconsidere", "desconsidera", "descarte", "descarta", "não siga", "nao siga"),
        "quant": ("todas as", "todos os", "todas", "todos", "quaisquer"),
        "poss": ("suas", "tuas", "seus", "teus", "todas as suas", "todas as tuas"),
        "det": ("as", "os", "essas", "estas", "aquelas"),
        "adj": ("anteriores", "prévias", "previas", "precedentes", "acima", "iniciais", "originais",
                "do sistema", "recebidas", "dadas", "de segurança"),
        "nouns": ("instruções", "instrucoes", "instrução", "orientações", "orientacoes", "regras",
                  "diretrizes", "ordens", "comandos", "indicações", "restrições", "restricoes"),
    },
    "it": {
        "verbs": ("ignora", "ignorate", "ignori", "ignorare", "dimentica", "dimenticate", "dimentichi",
                  "trascura", "trascurate", "scarta", "non seguire"),
        "quant": ("tutte le", "tutti i", "tutte", "tutti", "qualsiasi"),
        "poss": ("le tue", "tue", "le sue", "le vostre", "tutte le tue"),
        "det": ("le", "queste", "quelle", "gli", "i"),
        "adj": ("precedenti", "anteriori", "sopra", "di sopra", "sopraindicate", "iniziali", "originali",
                "del sistema", "di sistema", "ricevute", "date", "fornite", "di sicurezza"),
        "nouns": ("istruzioni", "istruzione", "regole", "indicazioni", "direttive", "ordini", "comandi",
                  "restrizioni", "linee guida", "disposizioni"),
    },
    "ru": {
        "verbs": ("игнорируй", "игнорируйте", "проигнорируй", "проигнорируйте", "игнорировать", "забудь",
                  "забудьте", "не обращай внимания на", "не обращайте внимания на", "отбрось", "отбросьте",
                  "отмени", "отмените", "пренебреги", "не следуй", "не выполняй"),
        "quant": ("все", "всё", "любые"),
        "poss": ("свои", "твои", "ваши", "все свои", "все твои"),
        "det": ("эти", "данные", "те"),
        "adj": ("предыдущие", "прежние", "предшествующие", "вышеуказанные", "вышеприведённые",
                "вышеприведенные", "исходные", "системные", "старые", "изначальные", "первоначальные",
                "полученные", "ранее данные", "ранее полученные", "заданные"),
        "nouns": ("инструкции", "указания", "правила", "команды", "инструкций", "указаний", "ограничения",
                  "установки", "директивы", "предписания", "системные инструкции"),
    },
}

OVERRIDE_EXTRA: dict[str, tuple[str, ...]] = {
    "en": (
        "forget everything (?:you(?:'ve| have)? (?:been|were) told|above|before this)",
        "ignore everything (?:above|before) this (?:line|message|point|sentence)",
        "(?:ignore|disregard) (?:all )?(?:the )?(?:text|content|messages?) (?:above|before this)",
        "your (?:new|real|actual) instructions (?:are|follow)",
        # HackAPrompt / Perez & Ribeiro: "Ignore the above and say ...", "... previous and following ..."
        "(?:ignore|disregard|forget) (?:all (?:of )?)?(?:the |everything )?(?:above|previous|prior|preceding)"
        "(?: text| content| prompt| message| directions)?[,.;:!]? (?:and |then |instead |now )?"
        "(?:say|print|output|write|respond|reply|tell|repeat|translate|just|return|instead)",
        "(?:ignore|disregard) (?:any|all) previous and following instructions",
    ),
    "es": ("olvida (?:todo )?lo (?:anterior|que te (?:dije|han dicho|dijeron))",
           "ignora (?:todo )?lo (?:anterior|de arriba)"),
    "de": ("vergiss alles,? was (?:dir|man dir) (?:bisher |vorher )?gesagt",
           "ignoriere alles,? was (?:oben|vorher|bisher)",
           "(?:ignoriere|vergiss) (?:alles )?(?:das )?"
           "(?:obige|oben stehende|vorherige|bisherige)(?:[ ,.!]|$)"),
    "fr": ("oublie(?:z)? (?:tout )?ce qui (?:précède|precede|t'a été dit|vous a été dit)",
           "ignore(?:z)? (?:tout )?ce qui (?:précède|precede)"),
    "pt": ("esque(?:ç|c)a tudo (?:o que (?:foi dito|te disseram|lhe disseram)|acima)",
           "ignore (?:tudo )?(?:o que (?:foi dito|está) )?acima"),
    "it": ("dimentica tutto (?:quello che|ciò che|cio che) (?:ti è stato detto|ti hanno detto|precede)",
           "ignora (?:tutto )?(?:quanto |ciò che è |quello che è )?(?:scritto )?"
           "(?:sopra|quello che precede)"),
    "ru": ("забудь(?:те)? всё,? что (?:тебе|вам) (?:говорили|сказали)",
           "игнорируй(?:те)? всё,? что (?:выше|было выше)",
           "(?:игнорируй|проигнорируй|забудь)(?:те)? (?:всё )?вышесказанное"),
    # No spaces between words: written out as whole regexes.
    "zh": (
        "(?:忽略|无视|無視|忽视|忽視|忘记|忘記|忘掉|不要理会|不要理會|不理会|不理會|跳过|跳過|抛开|拋開|丢弃|丟棄)"
        "(?:掉)?(?:你|您)?(?:的)?(?:(?:之前|以前|先前|此前|前面|上面|以上|上述|早先|原来|原來|原先|原有|所有|全部|一切|系统|系統)"
        "(?:的)?){1,3}(?:指令|指示|说明|說明|规则|規則|提示词|提示詞|提示|命令|设定|設定|限制|要求|对话|對話|内容|內容)",
        "(?:忽略|无视|無視|忽视|忽視|忘记|忘記)(?:你|您)的(?:系统|系統)?(?:指令|指示|规则|規則|提示|设定|設定)",
    ),
    "ja": (
        "(?:以前|前|これまで|今まで|上記|先ほど|先程|上|前述|最初|元|システム|すべて|全て|あなた)の"
        "(?:すべての|全ての)?(?:指示|命令|ルール|指令|プロンプト|設定|制約|会話)(?:は|を|も)?"
        "(?:すべて|全て)?(?:無視|忘れ|破棄)",
        "(?:すべて|全て)の(?:指示|命令|ルール|指令|制約)(?:を|は)?(?:無視|忘れ)",
        "(?:上記|以上|これまで|前)(?:の内容)?を(?:すべて|全て)?(?:無視|忘れ)",
    ),
}

# --- system-prompt exfiltration ---------------------------------------------------------------------

EXFILTRATION: dict[str, tuple[str, ...]] = {
    "en": (
        "what (?:is|are|was|were) your (?:(?:full|exact|original|initial|hidden|secret) )?"
        "(?:system (?:prompt|message|instructions?)"
        "|(?:initial|original|hidden|secret) (?:prompt|instructions))",
        "(?:reveal|print|repeat|show|display|output|leak|dump|disclose|recite|share|spell out|write out"
        "|tell me|give me) (?:me |us )?(?:all |all of |everything in )?your "
        "(?:(?:full|entire|exact|complete|original|initial|hidden|secret|verbatim|first) )*"
        "(?:system (?:prompt|message|instructions?)|(?:(?:initial|original|hidden|secret) |pre-?)"
        "(?:prompt|instructions?)|prompt|instructions)",
        "(?:reveal|leak|disclose|dump|recite|repeat) (?:the |all (?:of )?the )"
        "(?:(?:full|entire|exact|complete|original|initial|hidden|secret|verbatim) )*"
        "(?:system (?:prompt|message|instructions)|"
        "(?:initial|original|hidden|secret) (?:prompt|instructions))",
        "(?:repeat|print|output|recite) (?:the |all (?:of )?the )?(?:words|text|everything|instructions) "
        "(?:above|before this)(?: verbatim| starting with| word for word)?",
    ),
    "es": (
        "(?:muestra|muéstrame|revela|revélame|repite|imprime|dime|escribe|comparte|dame) (?:me )?"
        "(?:tu|tus|el|las) (?:prompt (?:del|de) sistema|mensaje del sistema|instrucciones "
        "(?:iniciales|originales|del sistema|ocultas|secretas))",
    ),
    "de": (
        "(?:zeige?|zeig mir|gib|gib mir|verrate|wiederhole|nenne|drucke|schreibe) "
        "(?:mir )?(?:deinen |den |deine |die )"
        "(?:system-?prompt|systemanweisungen|systemnachricht|"
        "(?:ursprünglichen|anfänglichen|geheimen|versteckten) "
        "(?:anweisungen|prompt))",
    ),
    "fr": (
        "(?:affiche|montre|montre-moi|révèle|revele|répète|repete|donne-moi|imprime|écris|ecris|dis-moi) "
        "(?:moi )?(?:ton|tes|le|les|votre|vos) (?:prompt (?:du )?syst(?:è|e)me|"
        "message syst(?:è|e)me|instructions "
        "(?:initiales|originales|du syst(?:è|e)me|cachées|secrètes))",
    ),
    "pt": (
        "(?:mostre|mostra|revele|revela|repita|repete|imprima|diga|escreva|me d(?:ê|e)|compartilhe) (?:me )?"
        "(?:seu|teu|o|suas|tuas|as) (?:prompt (?:do|de) sistema|mensagem do sistema|instruções "
        "(?:iniciais|originais|do sistema|ocultas|secretas))",
    ),
    "it": (
        "(?:mostra|mostrami|rivela|rivelami|ripeti|stampa|dimmi|scrivi|dammi) (?:il tuo |il |le tue |le )"
        "(?:prompt (?:di|del) sistema|messaggio di sistema|"
        "istruzioni (?:iniziali|originali|di sistema|nascoste|segrete))",
    ),
    "ru": (
        "(?:покажи|покажите|выведи|выведите|повтори|повторите|раскрой|раскройте|напиши|напишите|расскажи) "
        "(?:мне )?(?:свой |твой |ваш |свои |твои |ваши )?"
        "(?:системный (?:промпт|запрос)|системные (?:инструкции|указания)"
        "|(?:исходные|первоначальные|скрытые|изначальные) (?:инструкции|указания))",
    ),
    "zh": (
        "(?:输出|輸出|显示|顯示|打印|告诉我|告訴我|重复|重複|泄露|洩露|透露|给我看|給我看|展示|列出|复述|複述)"
        "(?:一下)?(?:你的|您的)?(?:完整的?)?(?:系统|系統|初始|原始|隐藏|隱藏)(?:的)?"
        "(?:提示词|提示詞|提示|指令|消息|訊息|设定|設定)",
    ),
    "ja": (
        "(?:システムプロンプト|初期指示|最初の指示|元の指示|システム指示|隠された指示|システムメッセージ)"
        "(?:を|の内容を|の全文を)?(?:すべて|全て)?(?:表示|出力|教え|見せ|繰り返|公開|開示)",
    ),
}

# --- role-play jailbreaks ---------------------------------------------------------------------------

ROLEPLAY: dict[str, tuple[str, ...]] = {
    "en": (
        "do anything now",
        "(?:you are|you're|act as|pretend to be|become|called|named|known as|be|as) (?:now )?(?-i:DAN)"
        "(?:[ ,.!:;()]|$)",
        "(?-i:DAN) mode (?:enabled|activated|on)",
        "(?:you are|you're|you will be|act as|pretend (?:to be|you are)|behave as|roleplay as|role-play as"
        "|from now on,? you(?: are| will)?) (?:now )?(?:an? )?"
        "(?:[A-Za-z'-]+ ){0,4}?(?:without|with no|free (?:of|from)"
        "|no longer (?:bound|restricted) by) "
        "(?:any )?(?:restrictions|limitations|limits|filters|censorship|rules"
        "|guidelines|ethics|morals|moral|ethical|boundaries|content polic(?:y|ies))",
        "(?:you are|you're|act as|pretend to be|become|enter|switch to|enable|activate) "
        "(?:now )?(?:an? |in )?"
        "(?:unrestricted|unfiltered|uncensored|jailbroken|amoral) (?:ai|assistant|mode|model|version|chatbot"
        "|llm|persona|character|gpt)",
        "(?:act|acting|behave|respond|pretend) as [A-Za-z-]+ with developer mode",
        "developer mode (?:output|response|enabled\\.? (?:you|as))",
        "(?:simulate|simulating|enter|entering) (?:the )?developer mode",
        "jailbreak(?:ed)? mode (?:enabled|activated|on)",
    ),
    "es": (
        "(?:eres|actúa como|actua como|finge ser|a partir de ahora eres) "
        "[^.\\n]{0,40}?sin (?:ninguna |ningún )?"
        "(?:restricciones|restricción|límites|limites|filtros|censura)",
        "(?:activa|activar|entra en|modo) (?:el )?modo desarrollador",
    ),
    "de": (
        "(?:du bist|sie sind|agiere als|tu so,? als|handle als|ab jetzt bist du) "
        "[^.\\n]{0,40}?ohne (?:jegliche |alle )?"
        "(?:einschränkungen|beschränkungen|grenzen|filter|zensur)",
        "(?:aktiviere|aktivieren sie|wechsle in|wechsel in|starte) (?:den )?entwicklermodus",
    ),
    "fr": (
        "(?:tu es|vous êtes|agis comme|fais comme si|à partir de maintenant,? tu es) "
        "[^.\\n]{0,40}?sans (?:aucune )?"
        "(?:restrictions?|limites?|filtres?|censure)",
        "(?:active|activez|passe en|entre en) (?:le )?mode (?:développeur|developpeur)",
    ),
    "pt": (
        "(?:você é|voce e|aja como|finja ser|a partir de agora,? você é) [^.\\n]{0,40}?sem (?:nenhuma )?"
        "(?:restrições|restricoes|restrição|limites|filtros|censura)",
        "(?:ative|ativa|entre no|mude para o) (?:o )?modo desenvolvedor",
    ),
    "it": (
        "(?:sei|agisci come|fingi di essere|d'ora in poi sei) [^.\\n]{0,40}?senza (?:alcuna |nessuna )?"
        "(?:restrizioni|restrizione|limiti|filtri|censura)",
        "(?:attiva|entra in|passa alla) (?:la )?modalità sviluppatore",
    ),
    "ru": (
        "(?:ты|теперь ты|вы|действуй как|притворись) [^.\\n]{0,40}?без (?:каких-либо |всяких |любых )?"
        "(?:ограничений|цензуры|фильтров)",
        "(?:включи|активируй|перейди в) (?:режим разработчика|developer mode)",
    ),
    "zh": (
        "(?:你现在是|你現在是|从现在开始|從現在開始|扮演|你将|你將)[^。！？\\n]{0,20}"
        "(?:没有|沒有|不受|无|無)(?:任何)?(?:限制|约束|約束|审查|審查|过滤|過濾)",
        "(?:进入|進入|启用|啟用|开启|開啟|切换到|切換到)(?:开发者|開發者|越狱|越獄)模式",
    ),
    "ja": (
        "あなたは(?:今から|これから)?[^。\\n]{0,20}(?:制限|制約|検閲|フィルター)(?:の|が)?(?:ない|なし|無い)",
        "(?:開発者|デベロッパー)モード(?:を|に)?(?:有効|オン|入|切り替え)",
    ),
}

# --- chat-template delimiters and tool calls (language-free) ----------------------------------------

DELIMITER: tuple[str, ...] = (
    "<\\|im_start\\|>[ \\t\\r\\n]*(?:system|assistant)",
    "<\\|(?:system|assistant)\\|>",
    "<\\|start_header_id\\|>[ \\t\\r\\n]*(?:system|assistant)",
    "<\\|(?:eot_id|im_end|endoftext|end_of_turn)\\|>",
    "<start_of_turn>[ \\t\\r\\n]*(?:model|system)",
    "\\[/?INST\\]",
    "<</?SYS>>",
    "</?system>",
    "#{2,3}[ \\t]*(?:system|system prompt|system message)[ \\t]*:",
)

_J = "[ \\t\\r\\n]*"
TOOL_CALL: tuple[str, ...] = (
    "\\{" + _J + '"(?:tool_calls?|function_call|tool_use)"' + _J + ":",
    '"(?:tool_calls?|function_call)"' + _J + ":" + _J + "[\\[{]",
    "<(?:tool_call|function_call|tool_use)>",
    "<\\|(?:tool_call|python_tag)\\|>",
    "<function=[A-Za-z_]",
    '"name"' + _J + ":" + _J + '"[A-Za-z_.]{1,64}"' + _J + "," + _J + '"(?:arguments|parameters)"'
    + _J + ":",
)

# --- vectorised prefilter ---------------------------------------------------------------------------
# Every phrase of a category contains one of that category's anchors (tests/datasets/
# test_detect_injection.py proves it by walking each phrase regex). No anchor holds whitespace: a
# phrase's space matches any run of it. ``injection.py`` sorts anchors into passes by their shape:
# lowercase ASCII on ``Cells.lowered`` (case-sensitive SIMD literal search; words and punctuation
# apart, each set well under the 64-literal limit of that search), uppercase or two-byte ones
# case-sensitively on the original text, and non-ASCII ones only in cells holding a non-ASCII
# character. Common words are fine here: they only make a cell a candidate for the precise grammar.

CATEGORY_ANCHORS: dict[str, tuple[str, ...]] = {
    "override": (
        # verbs: every grammar phrase and every extra starts with one (en, es, de, fr, pt, it)
        "ignor", "disregard", "forget", "skip", "override", "bypass", "neglect", "scar", "disobe",
        "aside", "throw", "olvid", "omit", "hagas", "siga", "vergiss", "vergess", "missacht", "oubli",
        "compte", "abstraction", "outre", "esque", "desconsider", "dimentic", "trascur", "seguire",
        "instru",  # "your new instructions are"
        "überspring",
        # Russian (first letter dropped, so a capitalised sentence start matches too), Chinese, Japanese
        "гнорир", "абудь", "бращай", "тбрось", "тмени", "ренебреги", "следуй", "выполняй",
        "忽略", "无视", "無視", "忽视", "忽視", "忘记", "忘記", "忘掉", "理会", "理會", "跳过", "跳過",
        "抛开", "拋開", "丢弃", "丟棄", "忘れ", "破棄",
    ),
    "exfiltration": (
        # the thing asked for
        "prompt", "messag", "mensa", "instru", "istruz", "anweisung", "nachricht", "above", "before",
        "истемн", "нструкци", "казани",
        "系统", "系統", "初始", "原始", "隐藏", "隱藏", "システム", "指示",
    ),
    "delimiter": ("<|", "##", "<start_of_turn>", "inst]", "sys>>", "system>"),
    "toolcall": ("<|", "_call", "tool_use", "<function=", '"arguments"', '"parameters"'),
    "roleplay": (
        # the persona, or what it is freed from
        "anything", "DAN", "restri", "limit", "filt", "cens", "rules", "guideline", "ethic", "moral",
        "boundar", "polic", "develop", "jailbr", "desarroll", "desenvolv", "sviluppat", "entwickler",
        "grenzen", "zensur",
        "límit", "schränk", "éveloppeur",
        "граничени", "ензур", "ильтр", "азработчик",
        "限制", "约束", "約束", "审查", "審查", "过滤", "過濾", "开发者", "開發者", "越狱模式", "越獄模式",
        "制限", "制約", "検閲", "フィルター", "開発者", "デベロッパー",
    ),
}  # fmt: skip

_EVERY_ANCHOR = tuple(dict.fromkeys(a for anchors in CATEGORY_ANCHORS.values() for a in anchors))
ANCHORS: tuple[str, ...] = tuple(a for a in _EVERY_ANCHOR if a.isascii())
ANCHORS_OTHER: tuple[str, ...] = tuple(a for a in _EVERY_ANCHOR if not a.isascii())
"""The same anchors by script (every category together)."""

# --- text that talks ABOUT injection ----------------------------------------------------------------

DISCUSSION: tuple[str, ...] = (
    "prompt injection", "prompt-injection", "injection attack", "jailbreak", "jailbreaking", "attack",
    "attacker", "adversar", "malicious", "payload", "red team", "red-team", "vulnerab", "exploit",
    "inyección", "ataque", "angriff", "attaque", "injeção", "attacco", "iniezione",
    "атак", "инъекци", "джейлбрейк",
    "提示注入", "越狱", "越獄", "攻击", "攻擊", "プロンプトインジェクション", "脱獄", "攻撃",
)  # fmt: skip
"""Vocabulary of security writing: a hit with one of these words near it (see ``DISCUSSION_WINDOW``) is
graded down (MEDIUM/LOW). Only attack-specific words: generic ones ("example", "research", "security",
"dataset") are everywhere in crawled text and would let any page launder an injection. Latin and
Cyrillic terms must start a word ('attacker' counts, 'counterattack' does not)."""

QUOTES = "\"“”„«»‹›「」『』'‘’`"
"""Opening/closing quotation marks: a phrase quoted right after one is being cited, not issued."""
# fmt: on
