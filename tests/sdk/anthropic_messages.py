"""The official Anthropic Python SDK against Sluice's `/anthropic` ingress.

Env: SLUICE_ANTHROPIC_BASE_URL (e.g. http://127.0.0.1:PORT/anthropic, required; the SDK adds
/v1/messages), SLUICE_MODEL (required for chat/tools), SLUICE_API_KEY (default sk-test, sent as
x-api-key), SLUICE_BAD_MODEL (error mode, default no-such-provider/gpt-4o-mini),
SLUICE_SDK_TIMEOUT (s).

    python anthropic_messages.py chat    {"text", "stream_text", "usage", "finish_reason", ...}
    python anthropic_messages.py tools   {"tool_calls": [{"id", "name", "arguments"}], ...}
    python anthropic_messages.py error   {"status", "exception", "body", "stream_status", ...}

`finish_reason` carries Anthropic's `stop_reason` (`end_turn`, `max_tokens`, `tool_use`, ...).
"""

import sys

# Importing sdk_common must not leave a __pycache__ in the source tree.
sys.dont_write_bytecode = True

import anthropic  # noqa: E402

from sdk_common import (  # noqa: E402
    MAX_TOKENS,
    PROMPT,
    TOOL_PROMPT,
    WEATHER_DESCRIPTION,
    WEATHER_PARAMETERS,
    WEATHER_RESULT,
    api_key,
    dump,
    env,
    main,
    timeout,
)

TOOLS = [
    {
        "name": "get_weather",
        "description": WEATHER_DESCRIPTION,
        "input_schema": WEATHER_PARAMETERS,
    }
]


def client():
    # No SDK retries: a failure must show up as it happened, not be retried away.
    return anthropic.Anthropic(
        base_url=env("SLUICE_ANTHROPIC_BASE_URL"),
        api_key=api_key(),
        max_retries=0,
        timeout=timeout(),
    )


def text_of(message):
    return "".join(b.text for b in message.content if b.type == "text")


def tool_calls_of(message):
    return [
        {"id": b.id, "name": b.name, "arguments": b.input}
        for b in message.content
        if b.type == "tool_use"
    ]


# The SDK also yields helper events of its own (`text`, `input_json`); only wire events count.
WIRE_EVENTS = (
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
)


def stream_message(c, **params):
    """Streams one message; returns (wire event types in first-seen order, text, final)."""
    event_types, parts = [], []
    with c.messages.stream(**params) as stream:
        for event in stream:
            if event.type in WIRE_EVENTS and event.type not in event_types:
                event_types.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
        final = stream.get_final_message()
    return event_types, "".join(parts), final


def chat():
    c, model = client(), env("SLUICE_MODEL")
    params = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    msg = c.messages.create(**params)
    event_types, stream_text, final = stream_message(c, **params)
    return {
        "model": msg.model,
        "text": text_of(msg),
        "finish_reason": msg.stop_reason,
        "usage": dump(msg.usage),
        "stream_text": stream_text,
        "stream_final_text": text_of(final),
        "stream_finish_reason": final.stop_reason,
        "stream_usage": dump(final.usage),
        "stream_event_types": event_types,
    }


def tools():
    c, model = client(), env("SLUICE_MODEL")
    user = {"role": "user", "content": TOOL_PROMPT}
    params = {"model": model, "max_tokens": MAX_TOKENS, "tools": TOOLS, "messages": [user]}
    msg = c.messages.create(**params)
    # The SDK assembles streamed `input_json_delta` fragments into each block's `input`.
    event_types, _, final = stream_message(c, **params)

    # Second turn: answer the tool call and let the model finish.
    followup = None
    calls = tool_calls_of(msg)
    if calls:
        assistant_blocks = [
            {"type": "text", "text": b.text}
            if b.type == "text"
            else {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
            for b in msg.content
            if b.type in ("text", "tool_use")
        ]
        results = [
            {"type": "tool_result", "tool_use_id": call["id"], "content": WEATHER_RESULT}
            for call in calls
        ]
        done = c.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            tools=TOOLS,
            messages=[
                user,
                {"role": "assistant", "content": assistant_blocks},
                {"role": "user", "content": results},
            ],
        )
        followup = {
            "text": text_of(done),
            "finish_reason": done.stop_reason,
            "tool_calls": len(tool_calls_of(done)),
        }
    return {
        "model": msg.model,
        "text": text_of(msg),
        "finish_reason": msg.stop_reason,
        "usage": dump(msg.usage),
        "tool_calls": calls,
        "stream_tool_calls": tool_calls_of(final),
        "stream_finish_reason": final.stop_reason,
        "stream_event_types": event_types,
        "followup": followup,
    }


def error():
    c, model = client(), env("SLUICE_BAD_MODEL", "no-such-provider/gpt-4o-mini")
    params = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    out = {}
    try:
        c.messages.create(**params)
    except anthropic.APIStatusError as e:
        out.update(status=e.status_code, exception=type(e).__name__, body=e.body)
    else:
        raise AssertionError(f"model {model!r} was accepted; expected an error status")
    try:
        stream_message(c, **params)
    except anthropic.APIStatusError as e:
        out.update(stream_status=e.status_code, stream_exception=type(e).__name__, stream_body=e.body)
    else:
        raise AssertionError(f"model {model!r} was accepted when streaming; expected an error status")
    return out


if __name__ == "__main__":
    main({"chat": chat, "tools": tools, "error": error})
