"""The embedded log: the default backend, files under one data directory, no other process.

Layout:

    data_dir/LOCK                           flock'ed while open (one process per data_dir)
    data_dir/topics/<topic>/topic.json      name, partitions, replicas, config
    data_dir/topics/<topic>/<partition>/    segment files (see segment.py, codec.py)
    data_dir/groups/<group>.json            a consumer group's committed offsets
    data_dir/trash/                         topics being deleted

Durability: an append returns once its frame is written to the OS (os.writev), which
survives kill -9 of the process. With fsync=True each frame is also fdatasync'ed (and
metadata, offsets and directory entries fsync'ed), which survives a machine crash at the
cost of a disk flush per append; it is off by default because streamdb's contract is
Kafka's default (acks after the write, flushing left to the OS).

Metadata and group offsets are replaced atomically (write temp file, rename). A topic
exists once its topic.json exists: a crash during create_topic leaves a directory without
one, removed on the next open.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

from sqlengine.log.base import LogInUseError, TopicInfo
from sqlengine.log.segment import DiskPartition, fsync_dir
from sqlengine.log.topics import GroupOffsets, PartitionStore, TopicLog

DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024
_TOPIC_FILE = "topic.json"


class EmbeddedLog(TopicLog):
    def __init__(
        self,
        data_dir: Path | str,
        *,
        fsync: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._topics_dir = self.data_dir / "topics"
        self._groups_dir = self.data_dir / "groups"
        self._trash_dir = self.data_dir / "trash"
        for d in (self._topics_dir, self._groups_dir, self._trash_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.data_dir / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LogInUseError(
                f"the data directory {self.data_dir} is in use by another streamdb process "
                "(a server, `streamdb run` or `streamdb cli --local`): stop it or choose "
                "another --data-dir"
            ) from None
        shutil.rmtree(self._trash_dir)
        self._trash_dir.mkdir()
        self._load_topics()
        self._load_groups()

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if self.fsync:
            fsync_dir(path.parent)

    def _partitions(self, info: TopicInfo) -> list[PartitionStore]:
        segment_bytes = int(info.config.get("segment.bytes", self.segment_bytes))
        return [
            DiskPartition(
                self._topics_dir / info.name / str(p),
                fsync=self.fsync,
                segment_bytes=segment_bytes,
            )
            for p in range(info.partitions)
        ]

    def _load_topics(self) -> None:
        for directory in sorted(self._topics_dir.iterdir()):
            if not directory.is_dir():
                continue
            meta = directory / _TOPIC_FILE
            if not meta.exists():  # create_topic did not finish
                shutil.rmtree(directory)
                continue
            raw = json.loads(meta.read_bytes())
            info = TopicInfo(raw["name"], raw["partitions"], raw["replicas"], raw["config"])
            self._add_topic(info, self._partitions(info))

    def _create_partitions(self, info: TopicInfo) -> list[PartitionStore]:
        directory = self._topics_dir / info.name
        if directory.exists():  # leftover of an unfinished create_topic in this process
            shutil.rmtree(directory)
        partitions = self._partitions(info)
        meta = {
            "name": info.name,
            "partitions": info.partitions,
            "replicas": info.replicas,
            "config": info.config,
        }
        self._write_atomic(directory / _TOPIC_FILE, json.dumps(meta).encode())
        if self.fsync:
            fsync_dir(self._topics_dir)
        return partitions

    def _delete_storage(self, name: str) -> None:
        # Rename first so a crash mid-delete never leaves a half-deleted live topic.
        doomed = self._trash_dir / f"{name}.{uuid.uuid4().hex}"
        os.replace(self._topics_dir / name, doomed)
        if self.fsync:
            fsync_dir(self._topics_dir)
        shutil.rmtree(doomed)

    def _group_path(self, group: str) -> Path:
        name = quote(group, safe="")
        if len(name) > 200:
            name = "sha256-" + hashlib.sha256(group.encode()).hexdigest()
        return self._groups_dir / f"{name}.json"

    def _load_groups(self) -> None:
        for path in self._groups_dir.glob("*.json"):
            raw = json.loads(path.read_bytes())
            self._groups[raw["group"]] = {(t, p): o for t, p, o in raw["offsets"]}

    def _save_group(self, group: str, offsets: GroupOffsets) -> None:
        data = {"group": group, "offsets": [[t, p, o] for (t, p), o in offsets.items()]}
        self._write_atomic(self._group_path(group), json.dumps(data).encode())

    def _close_storage(self) -> None:
        os.close(self._lock_fd)  # releases the flock
