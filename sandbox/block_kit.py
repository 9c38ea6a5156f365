"""Block Kit as Slack's Web API checks it in chat.postMessage's and chat.update's `blocks`, for the
blocks a message of the runbook's can carry: sections of text, dividers, and an actions block of
buttons (any other block or element is refused here, though Slack knows more).

Slack refuses a message whose blocks break a rule with `invalid_blocks`, each broken rule in
`errors` and again, prefixed, in `response_metadata.messages`, located by a JSON pointer; blocks
that are not a JSON array at all are `invalid_blocks_format`. The rules and their sources are in
the sandbox's README (the facts table).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_VALUE = 2000
MAX_URL = 3000
BUTTON_STYLES = ("primary", "danger")
TEXT_TYPES = ("plain_text", "mrkdwn")

Block = dict[str, Any]


class InvalidBlocks(Exception):
    """`error` as Slack names it, and the rules broken, each with its JSON pointer."""

    def __init__(self, error: str, problems: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.problems = problems or []

    def details(self) -> dict[str, Any]:
        if not self.problems:
            return {}
        return {"errors": self.problems, "response_metadata": {"messages": [f"[ERROR] {p}" for p in self.problems]}}


def parse_blocks(value: object, new_id: Callable[[], str]) -> list[Block] | None:
    """The blocks as the message keeps them, or None when the call has none. A JSON string (a form's
    field) or a list (a JSON body) alike; a block or button without an ID gets one, as in Slack."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise InvalidBlocks("invalid_blocks_format") from None
    if not isinstance(value, list) or not all(isinstance(block, dict) for block in value):
        raise InvalidBlocks("invalid_blocks_format")
    blocks = [dict(block) for block in value]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    action_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        problems += _block_id(block, pointer, new_id)
        if block.get("type") == "section":
            problems += _text_object(block.get("text"), f"{pointer}/text", TEXT_TYPES, MAX_SECTION_TEXT)
        elif block.get("type") == "actions":
            problems += _actions(block, pointer, new_id, action_ids)
        elif block.get("type") != "divider":
            problems.append(f"unsupported block type {block.get('type')!r} [json-pointer:{pointer}/type]")
    if problems:
        raise InvalidBlocks("invalid_blocks", problems)
    return blocks


def buttons(blocks: list[Block]) -> list[tuple[Block, Block]]:
    """Every button of the blocks, with the actions block that holds it."""
    return [
        (block, element)
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def _block_id(block: Block, pointer: str, new_id: Callable[[], str]) -> list[str]:
    if "block_id" not in block:
        block["block_id"] = new_id()
        return []
    return _string(block["block_id"], f"{pointer}/block_id", MAX_BLOCK_ID)


def _actions(block: Block, pointer: str, new_id: Callable[[], str], action_ids: set[str]) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"must provide at least one element [json-pointer:{pointer}/elements]"]
    problems: list[str] = []
    if len(elements) > MAX_ACTIONS_ELEMENTS:
        problems.append(f"no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{pointer}/elements]")
    block["elements"] = [dict(element) if isinstance(element, dict) else element for element in elements]
    for index, element in enumerate(block["elements"]):
        problems += _button(element, f"{pointer}/elements/{index}", new_id, action_ids)
    return problems


def _button(element: object, pointer: str, new_id: Callable[[], str], action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or element.get("type") != "button":
        # The fake knows buttons only: the runbook's messages carry nothing else.
        return [f"unsupported element type [json-pointer:{pointer}/type]"]
    problems = _text_object(element.get("text"), f"{pointer}/text", ("plain_text",), MAX_BUTTON_TEXT)
    action_id = element.setdefault("action_id", new_id())
    problems += _string(action_id, f"{pointer}/action_id", MAX_ACTION_ID)
    if isinstance(action_id, str):
        if action_id in action_ids:
            problems.append(
                f"action_id {action_id!r} is already used in this message [json-pointer:{pointer}/action_id]"
            )
        action_ids.add(action_id)
    if "value" in element:
        problems += _string(element["value"], f"{pointer}/value", MAX_VALUE)
    if "url" in element:
        problems += _string(element["url"], f"{pointer}/url", MAX_URL)
    if "style" in element and element["style"] not in BUTTON_STYLES:
        problems.append(f"must be one of {', '.join(BUTTON_STYLES)} [json-pointer:{pointer}/style]")
    return problems


def _text_object(value: object, pointer: str, types: tuple[str, ...], limit: int) -> list[str]:
    if not isinstance(value, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    if value.get("type") not in types:
        return [f"must be one of {', '.join(types)} [json-pointer:{pointer}/type]"]
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    return _string(text, f"{pointer}/text", limit)


def _string(value: object, pointer: str, limit: int) -> list[str]:
    if not isinstance(value, str):
        return [f"must be a string [json-pointer:{pointer}]"]
    if len(value) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}]"]
    return []
