"""A message's segments arranged as the segment table says: group instances within groups.

Mappings address data by group and segment ("SG4/CNI", "SG4/SG10/GID"). The validator walks
every message through its segment table anyway, so when it keeps a message's segments it also
files each one under its group instance as it goes (``TreeBuilder``); ``build_tree`` does the same
walk again for segments from elsewhere. Both use the one structure walker, so grouping here and in
validation can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .directory import MessageSpec
from .tokenizer import Segment


class GroupInstance:
    """One repetition of a segment group (or the whole message, ``group`` 0)."""

    __slots__ = ("group", "groups", "segments")

    def __init__(self, group: int) -> None:
        self.group = group
        self.segments: list[Segment] = []
        #: group number -> its instances within this one, in order
        self.groups: dict[int, list[GroupInstance]] = {}

    def segments_tagged(self, tag: str) -> list[Segment]:
        return [s for s in self.segments if s.tag == tag]

    def __repr__(self) -> str:
        return f"<SG{self.group} {[s.tag for s in self.segments]} {list(self.groups)}>"


class TreeBuilder:
    """Files segments under group instances, given the structure walker's stack after each
    step: a frame the builder has not seen is a new instance of its group."""

    __slots__ = ("instances", "root")

    def __init__(self, stack: Sequence[Any]) -> None:
        self.root = GroupInstance(0)
        # keyed by id(frame); the frame is kept in the value so its id cannot be reused while
        # the entry exists
        self.instances: dict[int, tuple[object, GroupInstance]] = {
            id(stack[0]): (stack[0], self.root)}

    def add(self, seg: Segment, stack: Sequence[Any]) -> None:
        instances = self.instances
        parent = self.root
        for frame in stack:
            entry = instances.get(id(frame))
            if entry is None:
                inst = GroupInstance(frame.node.group or 0)
                parent.groups.setdefault(inst.group, []).append(inst)
                instances[id(frame)] = (frame, inst)
            else:
                inst = entry[1]
            parent = inst
        parent.segments.append(seg)
        if len(instances) > 4 * len(stack) + 64:
            # frames that left the stack never come back: forget them (bounded memory)
            live = {id(f) for f in stack}
            self.instances = {k: v for k, v in instances.items() if k in live}


def build_tree(spec: MessageSpec, segments: Iterable[Segment]) -> GroupInstance:
    """Arrange ``segments`` (UNH..UNT of one message) into group instances.

    A segment the structure does not allow stays at the level where it was met, so a mapping of
    an invalid message still sees every segment (mapping only valid messages is the caller's
    choice).
    """
    from .validator import StructureWalker, _tables  # the validator imports this module

    walker = StructureWalker(spec.root, _tables(spec.root))
    builder = TreeBuilder(walker.stack)
    for seg in segments:
        walker.step(seg.tag)
        builder.add(seg, walker.stack)
    return builder.root


__all__ = ["GroupInstance", "TreeBuilder", "build_tree"]
