"""The official OpenAI Python SDK against Sluice's `/v1` ingress.

Env: SLUICE_BASE_URL (e.g. http://127.0.0.1:PORT/v1, required), SLUICE_MODEL (e.g.
mock/gpt-4o-mini, required for chat/tools), SLUICE_API_KEY (default sk-test),
SLUICE_BAD_MODEL (error mode, default no-such-provider/gpt-4o-mini), SLUICE_SDK_TIMEOUT (s).

    python openai_chat.py chat    {"text", "stream_text", "usage", "finish_reason", ...}
    python openai_chat.py tools   {"tool_calls": [{"id", "name", "arguments"}], "stream_tool_calls", ...}
    python openai_chat.py error   {"status", "exception", "body", "stream_status", ...}
"""

import sys

# Importing sdk_common must not leave a __pycache__ in the source tree.
sys.dont_write_bytecode = True

import openai  # noqa: E402

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
    parse_arguments,
    timeout,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": WEATHER_DESCRIPTION,
            "parameters": WEATHER_PARAMETERS,
        },
    }
]


def client():
    # No SDK retries: a failure must show up as it happened, not be retried away.
    return openai.OpenAI(
        base_url=env("SLUICE_BASE_URL"), api_key=api_key(), max_retries=0, timeout=timeout()
    )


def chat():
    c, model = client(), env("SLUICE_MODEL")
    messages = [{"role": "user", "content": PROMPT}]
    resp = c.chat.completions.create(model=model, messages=messages, max_tokens=MAX_TOKENS)
    choice = resp.choices[0]

    stream = c.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, stream_finish, stream_usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            stream_usage = dump(chunk.usage)
        for ch in chunk.choices:
            if ch.delta.content:
                parts.append(ch.delta.content)
            if ch.finish_reason:
                stream_finish = ch.finish_reason
    return {
        "model": resp.model,
        "text": choice.message.content,
        "finish_reason": choice.finish_reason,
        "usage": dump(resp.usage),
        "stream_text": "".join(parts),
        "stream_finish_reason": stream_finish,
        "stream_usage": stream_usage,
        "stream_chunks": chunks,
    }


def tools():
    c, model = client(), env("SLUICE_MODEL")
    messages = [{"role": "user", "content": TOOL_PROMPT}]
    resp = c.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, max_tokens=MAX_TOKENS
    )
    choice = resp.choices[0]
    calls = [
        {"id": tc.id, "name": tc.function.name, "arguments": parse_arguments(tc.function.arguments)}
        for tc in choice.message.tool_calls or []
    ]

    # Streamed tool calls arrive as fragments keyed by index; arguments are concatenated.
    stream = c.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, max_tokens=MAX_TOKENS, stream=True
    )
    by_index, stream_finish = {}, None
    for chunk in stream:
        for ch in chunk.choices:
            for tc in ch.delta.tool_calls or []:
                call = by_index.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
            if ch.finish_reason:
                stream_finish = ch.finish_reason
    stream_calls = [
        {**call, "arguments": parse_arguments(call["arguments"])}
        for _, call in sorted(by_index.items())
    ]

    # Second turn: answer the tool call and let the model finish.
    followup = None
    if choice.message.tool_calls:
        history = messages + [
            {
                "role": "assistant",
                "content": choice.message.content,
                "tool_calls": [
                    {
                        "id": tc.id,
                        "type": "function",
                        "function": {"name": tc.function.name, "arguments": tc.function.arguments},
                    }
                    for tc in choice.message.tool_calls
                ],
            }
        ] + [
            {"role": "tool", "tool_call_id": tc.id, "content": WEATHER_RESULT}
            for tc in choice.message.tool_calls
        ]
        done = c.chat.completions.create(
            model=model, messages=history, tools=TOOLS, max_tokens=MAX_TOKENS
        )
        followup = {
            "text": done.choices[0].message.content,
            "finish_reason": done.choices[0].finish_reason,
            "tool_calls": len(done.choices[0].message.tool_calls or []),
        }
    return {
        "model": resp.model,
        "text": choice.message.content,
        "finish_reason": choice.finish_reason,
        "usage": dump(resp.usage),
        "tool_calls": calls,
        "stream_tool_calls": stream_calls,
        "stream_finish_reason": stream_finish,
        "followup": followup,
    }


def error():
    c, model = client(), env("SLUICE_BAD_MODEL", "no-such-provider/gpt-4o-mini")
    messages = [{"role": "user", "content": PROMPT}]
    out = {}
    for prefix, extra in (("", {}), ("stream_", {"stream": True})):
        try:
            resp = c.chat.completions.create(model=model, messages=messages, **extra)
            if extra:
                list(resp)
        except openai.APIStatusError as e:
            out[prefix + "status"] = e.status_code
            out[prefix + "exception"] = type(e).__name__
            out[prefix + "body"] = e.body
        else:
            raise AssertionError(f"model {model!r} was accepted; expected an error status")
    return out


if __name__ == "__main__":
    main({"chat": chat, "tools": tools, "error": error})
