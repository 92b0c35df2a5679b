"""Licence texts and Hugging Face cards for the licence tests.

MIT, BSD, ISC, Zlib, Unlicense and BSL are given in full (they are short); the long licences are
faithful opening sections (title, version line and the first paragraphs) as found at the top of real
LICENSE files, which is all a repository usually shows before the terms.
"""

from __future__ import annotations

MIT = """MIT License

Copyright (c) 2023 Acme Research

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

_BSD_HEAD = """BSD {n}-Clause License

Copyright (c) 2022, Acme Research
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
"""
_BSD_CLAUSE3 = """
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
"""
_BSD_TAIL = """
THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""
BSD2 = _BSD_HEAD.format(n=2) + _BSD_TAIL
BSD3 = _BSD_HEAD.format(n=3) + _BSD_CLAUSE3 + _BSD_TAIL

ISC = """ISC License

Copyright (c) 2004-2010 by Internet Systems Consortium, Inc. ("ISC")

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
"""

ZLIB = """zlib License

(C) 1995-2024 Jean-loup Gailly and Mark Adler

This software is provided 'as-is', without any express or implied
warranty.  In no event will the authors be held liable for any damages
arising from the use of this software.

Permission is granted to anyone to use this software for any purpose,
including commercial applications, and to alter it and redistribute it
freely, subject to the following restrictions:

1. The origin of this software must not be misrepresented; you must not
   claim that you wrote the original software. If you use this software
   in a product, an acknowledgment in the product documentation would be
   appreciated but is not required.
2. Altered source versions must be plainly marked as such, and must not be
   misrepresented as being the original software.
3. This notice may not be removed or altered from any source distribution.
"""

UNLICENSE = """This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.

In jurisdictions that recognize copyright laws, the author or authors
of this software dedicate any and all copyright interest in the
software to the public domain.

For more information, please refer to <https://unlicense.org>
"""

BSL = """Boost Software License - Version 1.0 - August 17th, 2003

Permission is hereby granted, free of charge, to any person or organization
obtaining a copy of the software and accompanying documentation covered by
this license (the "Software") to use, reproduce, display, distribute,
execute, and transmit the Software, and to prepare derivative works of the
Software, and to permit third-parties to whom the Software is furnished to
do so, all subject to the following:

The copyright notices in the Software and this entire statement, including
the above license grant, this restriction and the following disclaimer,
must be included in all copies of the Software, in whole or in part.
"""

APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.

      "License" shall mean the terms and conditions for use, reproduction,
      and distribution as defined by Sections 1 through 9 of this document.

   2. Grant of Copyright License. Subject to the terms and conditions of
      this License, each Contributor hereby grants to You a perpetual,
      worldwide, non-exclusive, no-charge, royalty-free, irrevocable
      copyright license to reproduce, prepare Derivative Works of, ...

   3. Grant of Patent License. Subject to the terms and conditions of
      this License, each Contributor hereby grants to You a perpetual, ...
"""

APACHE_NOTICE = """Copyright 2024 The Acme Team. All rights reserved.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0
"""

GPL2 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 2, June 1991

 Copyright (C) 1989, 1991 Free Software Foundation, Inc.,
 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The licenses for most software are designed to take away your
freedom to share and change it.  By contrast, the GNU General Public
License is intended to guarantee your freedom to share and change free
software--to make sure the software is free for all its users.  This
General Public License applies to most of the Free Software
Foundation's software and to any other program whose authors commit to
using it.
"""

GPL3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU General Public License is a free, copyleft license for
software and other kinds of works.

  "The Program" refers to any copyrightable work licensed under this
License.  Each licensee is addressed as "you".

  13. Use with the GNU Affero General Public License.
"""

LGPL21 = """                  GNU LESSER GENERAL PUBLIC LICENSE
                       Version 2.1, February 1999

 Copyright (C) 1991, 1999 Free Software Foundation, Inc.
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

  This license, the Lesser General Public License, applies to some
specially designated software packages--typically libraries--of the
Free Software Foundation and other authors who decide to use it.
"""

LGPL3 = """                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public
License, supplemented by the additional permissions listed below.

  "The Library" refers to a covered work governed by this License,
other than an Application or a Combined Work as defined below.
"""

AGPL3 = """                    GNU AFFERO GENERAL PUBLIC LICENSE
                       Version 3, 19 November 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
 Everyone is permitted to copy and distribute verbatim copies
 of this license document, but changing it is not allowed.

                            Preamble

  The GNU Affero General Public License is a free, copyleft license for
software and other kinds of works, specifically designed to ensure
cooperation with the community in the case of network server software.

  13. Remote Network Interaction; Use with the GNU General Public License.
"""

MPL2 = """Mozilla Public License Version 2.0
==================================

1. Definitions
--------------

1.4. "Covered Software"
    means Source Code Form to which the initial Contributor has attached
    the notice in Exhibit A, the Executable Form of such Source Code
    Form, and Modifications of such Source Code Form, in each case
    including portions thereof.

1.5. "Incompatible With Secondary Licenses"
    means
"""

CC0 = """Creative Commons Legal Code

CC0 1.0 Universal

Statement of Purpose

The laws of most jurisdictions throughout the world automatically confer
exclusive Copyright and Related Rights ... A Work made available under CC0 may be
protected by copyright and related or neighboring rights ("Copyright and
Related Rights"). ... the person associating CC0 with a Work (the "Affirmer") ...
"""


def _cc(title: str, extra: str = "") -> str:
    return f"""{title.split(" International")[0]} International

=======================================================================

Creative Commons Corporation ("Creative Commons") is not a law firm and
does not provide legal services or legal advice.

=======================================================================

Creative Commons {title}

By exercising the Licensed Rights (defined below), You accept and agree
to be bound by the terms and conditions of this Creative Commons
{title} ("Public License").

Section 1 -- Definitions.

  e. Licensed Material means the artistic or literary work, database,
     or other material to which the Licensor applied this Public
     License.
{extra}
"""


_NC = """
  i. NonCommercial means not primarily intended for or directed towards
     commercial advantage or monetary compensation.
"""
CC_BY = _cc("Attribution 4.0 International Public License")
CC_BY_SA = _cc(
    "Attribution-ShareAlike 4.0 International Public License",
    "  b. Adapter's License means the license You apply to Your Copyright\n",
)
CC_BY_NC = _cc("Attribution-NonCommercial 4.0 International Public License", _NC)
CC_BY_NC_SA = _cc("Attribution-NonCommercial-ShareAlike 4.0 International Public License", _NC)
CC_BY_NC_ND = _cc("Attribution-NonCommercial-NoDerivatives 4.0 International Public License", _NC)

CREATIVEML = """Copyright (c) 2022 Robin Rombach and Patrick Esser and contributors

CreativeML Open RAIL-M
dated August 22, 2022

Section I: PREAMBLE

Multimodal generative models are being widely adopted and used, and have the potential to
transform the way artists, among other individuals, conceive and benefit from AI or ML technologies as a
tool for content creation.
...
This License governs the use of the model (and its derivatives) and is informed by the model card
associated with the model. ... use-based restrictions ...
"""

BIGSCIENCE = """BigScience Open RAIL-M License
dated August 18, 2022

Section I: PREAMBLE
... The BigScience Open RAIL-M License ... Use-based restrictions as referenced in paragraph 5 ...
"""

LLAMA2 = """LLAMA 2 COMMUNITY LICENSE AGREEMENT
Llama 2 Version Release Date: July 18, 2023

"Agreement" means the terms and conditions for use, reproduction, distribution and modification of the
Llama Materials set forth herein.
...
2. Additional Commercial Terms. If, on the Llama 2 version release date, the monthly active users of the
products or services made available by or for Licensee, or Licensee's affiliates, is greater than 700 million
monthly active users in the preceding calendar month, you must request a license from Meta.
"""

LLAMA3 = """META LLAMA 3 COMMUNITY LICENSE AGREEMENT
Meta Llama 3 Version Release Date: April 18, 2024

"Agreement" means the terms and conditions for use, reproduction, distribution and modification of the
Llama Materials set forth herein.
...
i. If you distribute or make available the Llama Materials (or any derivative works thereof), or a product or
service that uses any of them, including another AI model, you shall (A) provide a copy of this Agreement with
any such Llama Materials; and (B) prominently display "Built with Meta Llama 3" on a related website...
2. Additional Commercial Terms. ... greater than 700 million monthly active users ...
"""


def llama3x(minor: int, date: str) -> str:
    return f"""LLAMA 3.{minor} COMMUNITY LICENSE AGREEMENT
Llama 3.{minor} Version Release Date: {date}

"Agreement" means the terms and conditions for use, reproduction, distribution and modification of the
Llama Materials set forth herein.
...
you shall (A) provide a copy of this Agreement with any such Llama Materials; and (B) prominently display
"Built with Llama" on a related website, user interface, blogpost, about page, or product documentation.
2. Additional Commercial Terms. ... greater than 700 million monthly active users ...
"""


GEMMA = """Gemma Terms of Use

Last modified: April 1, 2024

By using, reproducing, modifying, distributing, performing or displaying any portion or element of Gemma,
Model Derivatives including via any Hosted Service, (each as defined below) (collectively, the "Gemma
Services") or otherwise accepting the terms of this Agreement, you agree to be bound by this Agreement.
...
You must not use any of the Gemma Services for the restricted uses set forth in the Gemma Prohibited Use
Policy.
"""

PROPRIETARY = """Copyright (c) 2024 Acme Corp. All rights reserved.

This software and the associated model weights are proprietary and confidential.
Unauthorized copying of this file, via any medium, is strictly prohibited.
"""

# -- Hugging Face cards (front matter as published; prose shortened) ---------------------------------------
LLAMA3_CARD = """---
language:
- en
pipeline_tag: text-generation
tags:
- facebook
- meta
- pytorch
- llama
- llama-3
license: llama3
new_version: meta-llama/Llama-3.1-8B
extra_gated_prompt: >-
  ### META LLAMA 3 COMMUNITY LICENSE AGREEMENT

  Meta Llama 3 Version Release Date: April 18, 2024
extra_gated_fields:
  First Name: text
  Last Name: text
  Date of birth: date_picker
  Country: country
  Affiliation: text
  geo: ip_location
  By clicking Submit below I accept the terms of the license and acknowledge that the information I provide will be collected stored processed and shared in accordance with the Meta Privacy Policy: checkbox
extra_gated_description: The information you provide will be collected, stored, processed and shared in accordance with the [Meta Privacy Policy](https://www.facebook.com/privacy/policy/).
extra_gated_button_content: Submit
---
## Model Details

Meta developed and released the Meta Llama 3 family of large language models (LLMs).
"""  # noqa: E501

GEMMA_CARD = """---
library_name: transformers
license: gemma
extra_gated_heading: Access Gemma on Hugging Face
extra_gated_prompt: >-
  To access Gemma on Hugging Face, you're required to review and agree to
  Google's usage license. To do this, please ensure you're logged-in to Hugging
  Face and click below. Requests are processed immediately.
extra_gated_button_content: Acknowledge license
---

# Gemma Model Card
"""

MISTRAL_CARD = """---
language:
- en
license: apache-2.0
tags:
- pretrained
pipeline_tag: text-generation
inference:
  parameters:
    temperature: 0.7
---

# Model Card for Mistral-7B-v0.1

The Mistral-7B-v0.1 Large Language Model (LLM) is a pretrained generative text model with 7 billion
parameters.
"""

SD_CARD = """---
license: creativeml-openrail-m
tags:
- stable-diffusion
- stable-diffusion-diffusers
- text-to-image
inference: true
extra_gated_prompt: |-
  This model is open access and available to all, with a CreativeML OpenRAIL-M license further specifying rights and usage.
  The CreativeML OpenRAIL License specifies:

  1. You can't use the model to deliberately produce nor share illegal or harmful outputs or content
extra_gated_heading: Please read the LICENSE to access this model
---

# Stable Diffusion v1-5 Model Card
"""  # noqa: E501

NC_DATASET_CARD = """---
annotations_creators:
- crowdsourced
language:
- en
license: cc-by-nc-4.0
multilinguality:
- monolingual
size_categories:
- 10K<n<100K
task_categories:
- text-generation
pretty_name: Acme Dialogues
dataset_info:
  features:
  - name: prompt
    dtype: string
  - name: response
    dtype: string
  splits:
  - name: train
    num_bytes: 1024
    num_examples: 3
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
---

# Dataset Card for Acme Dialogues
"""

OTHER_LLAMA_CARD = """---
base_model: meta-llama/Meta-Llama-3-8B-Instruct
library_name: peft
license: other
license_name: llama3
license_link: LICENSE
tags:
- trl
- sft
---

# acme-llama3-8b-sft
"""

OTHER_UNNAMED_CARD = """---
license: other
license_name: acme-research-license
license_link: https://acme.example/model-license
datasets:
- acme/private
---

# acme-model
"""
