"""A message's segments arranged as the segment table says: group instances within groups.

Mappings address data by group and segment ("SG4/CNI", "SG4/SG10/GID"); this module turns the
flat segment list of one message into that tree, using the same structure walker as the validator
so that grouping here and there can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from edigate.edifact.directory import MessageSpec, Node
from edigate.edifact.tokenizer import Segment
from edigate.edifact.validator import StructureWalker, _tables


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


def build_tree(spec: MessageSpec, segments: Iterable[Segment]) -> GroupInstance:
    """Arrange ``segments`` (UNH..UNT of one message) into group instances.

    A segment the structure does not allow stays at the level where it was met, so a mapping of
    an invalid message still sees every segment (mapping only valid messages is the caller's
    choice).
    """
    root_node: Node = spec.root
    walker = StructureWalker(root_node, _tables(root_node))
    root = GroupInstance(0)
    # Keyed by id(frame); the frame is kept in the value so its id cannot be reused while the
    # entry exists.
    instances: dict[int, tuple[object, GroupInstance]] = {id(walker.stack[0]): (None, root)}
    instances[id(walker.stack[0])] = (walker.stack[0], root)
    for seg in segments:
        walker.step(seg.tag)
        parent = root
        for frame in walker.stack:
            entry = instances.get(id(frame))
            if entry is None:
                inst = GroupInstance(frame.node.group or 0)
                parent.groups.setdefault(inst.group, []).append(inst)
                instances[id(frame)] = (frame, inst)
            else:
                inst = entry[1]
            parent = inst
        parent.segments.append(seg)
        if len(instances) > 4 * len(walker.stack) + 64:
            # Frames that left the stack never come back: forget them (bounded memory).
            live = {id(f) for f in walker.stack}
            instances = {k: v for k, v in instances.items() if k in live}
    return root
