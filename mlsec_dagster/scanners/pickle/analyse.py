"""The scan of one artifact: every pickle stream in it, whatever follows a STOP or an error.

Streams are parsed back to back (a benign pickle followed by a payload is two streams, both
judged). Known layouts with raw data between or after pickles (legacy torch, uncompressed joblib)
are walked; anything else that does not parse is searched, bounded, for further pickle streams,
so neither a STOP nor a broken tail hides an earlier or later payload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlsec_dagster.engine.artifact import Artifact
from mlsec_dagster.engine.context import ScanContext
from mlsec_dagster.engine.findings import Finding, Severity
from mlsec_dagster.engine.rules import Rule
from mlsec_dagster.scanners.pickle import decompile, rules, special
from mlsec_dagster.scanners.pickle.machine import LATIN1_BLOB, Budget, Issue, Kind, LimitHit, Machine
from mlsec_dagster.scanners.pickle.opcodes import Blob, OpReader, PickleFormatError
from mlsec_dagster.scanners.pickle.values import Const, Seq, Value
from mlsec_dagster.scanners.secrets.strings import findings_in_strings, pickle_pairs

RESYNC_CHUNK = 1024 * 1024
RESYNC_CANDIDATES = 4096
"""Start offsets tried when searching unparseable bytes for hidden pickle streams."""
MAX_SHADOW_BYTES = 64 * 1024 * 1024
"""Raw joblib array bytes searched for streams that plain ``pickle.load`` would run, per artifact."""
_CANDIDATE = re.compile(rb"(?=\x80[\x02-\x05]|[ci][A-Za-z_][\w.]{0,120}\n[A-Za-z_][\w.]{0,120}\n)")
"""Zero-width, so overlapping starts (``ccos\nsystem\n``) are all tried."""

_RULES = {
    Kind.DENIED: rules.DANGEROUS_CALLABLE,
    Kind.UNKNOWN_CALL: rules.UNKNOWN_CALL,
    Kind.UNVERIFIED_CLASS: rules.UNVERIFIED_CLASS,
    Kind.DYNAMIC: rules.DYNAMIC_CALLABLE,
    Kind.BUILD_GLOBAL: rules.BUILD_ON_GLOBAL,
    Kind.NESTED: rules.NESTED_PICKLE,
}
_NAMED_KINDS = frozenset({Kind.DENIED, Kind.NESTED})
"""Issues that random bytes cannot produce by chance (they need a dangerous name spelled out)."""
_ADVICE = {
    Kind.DENIED: "Loading this file runs that code. Do not load it; get the model as safetensors from a "
    "trusted source.",
    Kind.UNKNOWN_CALL: "It is not on the allowlist of data constructors, so loading the file runs code the "
    "scanner cannot vet. If you trust it, add the exact name to `artifact_rules.trusted_globals` in "
    "mlsec.yaml.",
    Kind.UNVERIFIED_CLASS: "Its __setstate__ runs at load time. If the class is yours or from a package you "
    "trust, add it to `artifact_rules.trusted_globals` in mlsec.yaml.",
    Kind.DYNAMIC: "Serializers do not build callables this way; payloads do, to evade scanners. Treat the "
    "file as hostile.",
    Kind.BUILD_GLOBAL: "Legitimate serializers never change imported objects. Treat the file as hostile.",
    Kind.NESTED: "The embedded payload is scanned separately. Do not load this file.",
}


@dataclass
class Stream:
    start: int
    end: int
    machine: Machine
    value: Value | None = None
    error: PickleFormatError | None = None
    from_resync: bool = False


class Analysis:
    def __init__(self, artifact: Artifact, ctx: ScanContext, fh: BinaryIO, size: int) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.fh = fh
        self.size = size
        self.reader = OpReader(fh, size)
        self.budget = Budget(ctx.limits, ctx.out_of_time, ctx.policy.trusts_global)
        self.reported: set[tuple[str, str]] = set()
        self.shadow_budget = MAX_SHADOW_BYTES

    # -- streams --------------------------------------------------------------------------
    def parse(self, start: int) -> Stream:
        """One stream from ``start``; LimitHit propagates (after the caller reports what was found)."""
        self.reader.seek(start)
        machine = Machine(self.reader, self.budget, special.joblib_build_hook)
        stream = Stream(start, start, machine)
        try:
            stream.value = machine.run()
        except PickleFormatError as exc:
            stream.error = exc
        except LimitHit as hit:
            stream.end = self.reader.pos
            raise _StreamLimit(stream, hit) from None
        stream.end = self.reader.pos
        return stream

    def run(self) -> Iterator[Finding]:
        try:
            yield from self._streams()
        except _StreamLimit as stop:
            yield from self.report(stop.stream)
            location = self.artifact.location(offset=stop.hit.pos)
            if stop.hit.limit == "timeout_seconds":
                yield self.ctx.timeout_finding(self.artifact, location)
            else:
                yield self.ctx.limit_finding(self.artifact, stop.hit.limit, str(stop.hit), location)

    def _streams(self) -> Iterator[Finding]:
        streams: list[Stream] = []
        pos = 0
        legacy_done = False
        while pos < self.size:
            stream = self.parse(pos)
            streams.append(stream)
            yield from self.report(stream)
            if stream.error is not None:
                yield from self._broken(stream, first=len(streams) == 1)
                break
            pos = stream.end
            if len(streams) == 5 and special.is_legacy_torch([s.value for s in streams]):
                legacy_done = True
                yield from self._legacy_torch(streams)
                pos = self.reader.pos
        extra = streams[5:] if legacy_done else streams[1:]
        if extra:
            yield self.finding(
                rules.TRAILING_DATA,
                f"{self.artifact.display} continues after its pickle ends (byte {extra[0].start}); the rest "
                "was analysed for further pickle streams. Re-create the file from its source.",
                extra[0].start,
                f"first appended bytes at {extra[0].start}",
                key="appended-data",
            )

    def _broken(self, stream: Stream, first: bool) -> Iterator[Finding]:
        error = stream.error
        assert error is not None
        began_as_pickle = stream.machine.opcount > 1 and (first or stream.machine.proto >= 2)
        if first or began_as_pickle:
            what = "ends before its STOP opcode" if error.truncated else "is malformed"
            yield self.finding(
                rules.MALFORMED,
                f"The pickle stream starting at byte {stream.start} {what} (byte {error.pos}: {error}). "
                "Everything before the error runs when the file is loaded; the remainder was searched for "
                "further streams. Re-create the file from its source.",
                error.pos,
                f"{error}\n\n" + decompile.disassemble(list(stream.machine.recent)),
                key="truncated" if error.truncated else "malformed",
            )
        resume = error.pos + 1 if error.pos > stream.start else stream.start + 1
        yield from self.resync(resume)

    def _legacy_torch(self, streams: list[Stream]) -> Iterator[Finding]:
        self.reader.seek(streams[4].end)
        magic = streams[0].value
        if isinstance(magic, Const) and magic.value != special.TORCH_MAGIC:
            yield self.finding(
                rules.TORCH_MAGIC,
                f"{self.artifact.display} is laid out like a legacy torch.save file but its magic number is "
                f"{magic.value:#x} instead of {special.TORCH_MAGIC:#x}. Re-save it with a current PyTorch "
                "or as safetensors.",
                streams[0].start,
                f"magic number {magic.value!r}",
                key="magic-number",
            )
        keys = streams[4].value
        count = keys.total if isinstance(keys, Seq) else -1
        tail = self.reader.pos
        problem = special.skip_torch_storages(self.reader, streams[3].machine.storages, count)
        if problem is not None:
            yield self.finding(
                rules.MALFORMED,
                f"The raw storage data of legacy checkpoint {self.artifact.display} does not match its "
                f"storage list ({problem}); the data was searched for hidden pickle streams. Re-save the "
                "checkpoint from its source.",
                tail,
                problem,
                key="torch-storages",
            )
            yield from self.resync(tail)
            self.reader.seek(self.size)

    # -- resynchronisation ----------------------------------------------------------------
    def resync(self, start: int, end: int | None = None) -> Iterator[Finding]:
        """Search ``start..end`` for pickle streams (bounded) and analyse each one found."""
        end = self.size if end is None else end
        if end - start > self.ctx.limits.max_pickle_bytes:
            yield self.ctx.limit_finding(
                self.artifact, "max_pickle_bytes", "the unparseable remainder is too large to search",
                self.artifact.location(offset=start),
            )  # fmt: skip
            return
        tried = 0
        chunk_start = start
        while chunk_start < end:
            self.fh.seek(chunk_start)
            chunk = self.fh.read(min(RESYNC_CHUNK + 256, end - chunk_start))
            for match in _CANDIDATE.finditer(chunk):
                if match.start() >= RESYNC_CHUNK:
                    break
                candidate = chunk_start + match.start()
                tried += 1
                if tried > RESYNC_CANDIDATES or self.ctx.out_of_time():
                    return
                stream = self.parse(candidate)
                stream.from_resync = True
                yield from self.report(stream)
            chunk_start += RESYNC_CHUNK

    # -- findings -------------------------------------------------------------------------
    def finding(self, rule: Rule, message: str, offset: int, evidence: str, key: str,
                severity: Severity | None = None) -> Finding:  # fmt: skip
        self.reported.add((rule.id, key))
        return rule.finding(
            self.artifact.path,
            message,
            location=self.artifact.location(offset=offset),
            evidence=evidence,
            key=key,
            severity=severity,
        )

    def report(self, stream: Stream) -> Iterator[Finding]:
        yield from self._issues(stream)
        yield from findings_in_strings(self.artifact, "pickle strings", pickle_pairs(stream.machine.strings))
        if not stream.from_resync:
            for start, end in stream.machine.skipped_regions:
                # plain pickle.load (not joblib's unpickler) would run these bytes as opcodes
                if end - start > self.shadow_budget:
                    break
                self.shadow_budget -= end - start
                yield from self.resync(start, end)

    def _issues(self, stream: Stream) -> Iterator[Finding]:
        source: str | None = None
        for issue in list(stream.machine.issues.values()):
            if stream.from_resync and stream.error is not None and issue.kind not in _NAMED_KINDS:
                continue  # bytes that merely parse for a while: only a named import is evidence enough
            if issue.kind is Kind.NESTED:
                yield from self._nested(issue)
                if not issue.report:
                    continue
            key = issue.key.split("@", 1)[0]
            rule = _RULES[issue.kind]
            if (rule.id, key) in self.reported:
                continue
            if source is None:
                source = self._decompile(stream)
            severity = None
            if issue.kind is Kind.UNVERIFIED_CLASS and self.ctx.policy.artifact_rules.strict_unknown_classes:
                severity = Severity.HIGH
            yield self.finding(
                rule,
                f"{self.artifact.display}: {issue.detail} (byte {issue.pos}). {_ADVICE[issue.kind]}",
                issue.pos,
                decompile.evidence(issue.detail, issue.context, source),
                key=key,
                severity=severity,
            )

    def _decompile(self, stream: Stream) -> str:
        end = max(stream.end, stream.error.pos + 1 if stream.error else 0)
        length = min(end, self.size) - stream.start
        if length <= 0 or length > decompile.MAX_DECOMPILE_BYTES:
            return ""
        here = self.fh.tell()
        self.fh.seek(stream.start)
        data = self.fh.read(length)
        self.fh.seek(here)
        return decompile.decompile(data)

    def _nested(self, issue: Issue) -> Iterator[Finding]:
        payload = issue.payload
        member = f"<nested pickle @ byte {issue.pos}>"
        if isinstance(payload, Blob):
            if payload.length > self.ctx.limits.max_nested_pickle_bytes:
                yield self.ctx.limit_finding(
                    self.artifact, "max_nested_pickle_bytes",
                    f"an embedded payload of {payload.length} bytes was not analysed",
                    self.artifact.location(offset=issue.pos),
                )  # fmt: skip
                return
            here = self.fh.tell()
            self.fh.seek(payload.offset)
            data = self.fh.read(payload.length)
            self.fh.seek(here)
            if payload.kind == LATIN1_BLOB:
                data = data.decode("utf-8", "surrogatepass").encode("latin-1", "replace")
        elif payload is None:
            return
        else:
            data = payload
        yield from self.ctx.scan_child_bytes(self.artifact, member, data)


class _StreamLimit(Exception):
    def __init__(self, stream: Stream, hit: LimitHit) -> None:
        super().__init__(str(hit))
        self.stream = stream
        self.hit = hit


def scan(artifact: Artifact, ctx: ScanContext) -> Iterator[Finding]:
    with artifact.open() as fh:
        size = artifact.size
        if size < 0:
            size = fh.seek(0, 2)
            fh.seek(0)
        yield from Analysis(artifact, ctx, fh, size).run()
