"""Version metadata as one small value type, whatever the source (JSON, headers, SQLite)."""

import json
import zlib
from dataclasses import dataclass, field


def adler32(data):
    """The server's checksum: unsigned 32-bit adler32."""
    return zlib.adler32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Meta:
    """One version of an object: its id, key, size, adler32 and times (epoch seconds)."""

    version_id: int
    key: str = None
    size: int = 0
    adler32: int = 0
    tr: float = 0.0
    tv: float = 0.0
    tags: tuple = ()
    data_key: str = None
    folder: str = None
    object: str = None
    md5: str = field(default=None, compare=False)

    @classmethod
    def from_json(cls, d):
        """Build from the server's version metadata JSON dict."""
        return cls(
            version_id=int(d["id"]),
            key=d.get("key"),
            size=int(d.get("data_size") or 0),
            adler32=int(d.get("adler32") or 0),
            tr=float(d.get("tr") or 0),
            tv=float(d.get("tv") or 0),
            tags=tuple(d.get("tags") or ()),
            data_key=None if d.get("data_key") is None else str(d["data_key"]),
            folder=d.get("folder"),
            object=d.get("object"),
        )

    @classmethod
    def from_headers(cls, h, md5=None):
        """Build from the X-UConDB-* headers of a data download."""
        extra = json.loads(h.get("X-UConDB-metadata") or "{}")
        key = h.get("X-UConDB-version-key")
        return cls(
            version_id=int(h["X-UConDB-version-id"]),
            key=None if key in (None, "", "null") else key,
            size=int(h["X-UConDB-data-size"]),
            adler32=int(h["X-UConDB-adler32"]),
            tr=float(h.get("X-UConDB-tr") or 0),
            tv=float(h.get("X-UConDB-tv") or 0),
            tags=tuple(extra.get("tags") or ()),
            data_key=h.get("X-UConDB-data-key"),
            folder=extra.get("folder"),
            object=extra.get("object"),
            md5=md5,
        )

    def to_json(self):
        """The server's version metadata JSON dict."""
        return {
            "object": self.object,
            "folder": self.folder,
            "tv": self.tv,
            "tr": self.tr,
            "tags": list(self.tags),
            "adler32": self.adler32,
            "uadler32": self.adler32,
            "data_size": self.size,
            "data_key": self.data_key,
            "id": self.version_id,
            "key": self.key,
        }

    def matches(self, data):
        """True if data has this version's size and adler32 (how the server checks integrity)."""
        return len(data) == self.size and adler32(data) == self.adler32


def run_keys(versions):
    """Sorted keys of versions that still hold one; digit keys in numeric order first."""
    keys = {m.key for m in versions if m.key is not None}
    return sorted(keys, key=lambda k: (0, int(k), k) if k.isdigit() else (1, 0, k))
