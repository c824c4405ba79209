"""What the SDK scripts share: environment, fixed prompts, the JSON-line contract.

Each script takes one mode argument (`chat`, `tools` or `error`), prints exactly one JSON line on
stdout and exits 0; on any failure it prints the traceback on stderr and exits 1.
"""

import json
import os
import sys
import traceback

PROMPT = "Hello, Sluice!"
TOOL_PROMPT = "What's the weather in Paris?"
MAX_TOKENS = 64

WEATHER_DESCRIPTION = "Get the current weather in a given city."
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"location": {"type": "string", "description": "City name, e.g. Paris"}},
    "required": ["location"],
}
# What the "tool" answers in the follow-up turn.
WEATHER_RESULT = json.dumps({"location": "Paris", "temperature_c": 18, "conditions": "sunny"})


def env(name, default=None):
    value = os.environ.get(name) or default
    if value is None:
        raise SystemExit(f"{os.path.basename(sys.argv[0])}: environment variable {name} is required")
    return value


def timeout():
    return float(env("SLUICE_SDK_TIMEOUT", "30"))


def api_key():
    return env("SLUICE_API_KEY", "sk-test")


def parse_arguments(raw):
    """Tool-call arguments as JSON if they parse, else the raw string (so a test shows it)."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def dump(model):
    """A pydantic model (usage, ...) as plain JSON data, `None` fields left out."""
    if model is None:
        return None
    return model.model_dump(mode="json", exclude_none=True)


def main(modes):
    """Runs `modes[argv[1]]` (default `chat`) and prints its result as one JSON line."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "chat"
    if mode not in modes:
        sys.exit(f"usage: {sys.argv[0]} [{'|'.join(modes)}]")
    try:
        result = modes[mode]()
    except Exception:  # noqa: BLE001 - any failure is reported and fails the script
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps(result, sort_keys=True), flush=True)
