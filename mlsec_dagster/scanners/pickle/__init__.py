"""Static pickle analysis: every stream of a file judged at opcode level, never executed.

See ``machine`` (symbolic unpickler), ``callables`` (allow/deny data), ``special`` (joblib and
legacy torch layouts) and ``analyse`` (streams, resynchronisation, findings).
"""

from mlsec_dagster.engine.context import Scanner
from mlsec_dagster.scanners.pickle.analyse import scan
from mlsec_dagster.scanners.pickle.sniff import sniff

SCANNER = Scanner("pickle", sniff, scan)

__all__ = ["SCANNER"]
