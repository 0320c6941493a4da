"""Drive the shim with the official Anthropic and OpenAI Python SDKs.

Usage: official_sdks.py SHIM_URL. Prints one JSON object with what each call returned; the
Rust test (tests/tests/pipeline.rs) asserts on it. Installed by `cargo xtask test`.
"""
import json
import sys

import anthropic
import openai

SECRET_PROMPT = "use aws_access_key_id = AKIAQYLPMN5HHHFPZAM2 please"


def main() -> None:
    base = sys.argv[1]
    out = {}
    a = anthropic.Anthropic(base_url=base, api_key="sk-ant-sdk-test", max_retries=0)
    msg = a.messages.create(model="claude-sonnet-4", max_tokens=64,
                            messages=[{"role": "user", "content": "hello from the SDK"}])
    out["anthropic"] = {"text": msg.content[0].text, "input": msg.usage.input_tokens, "output": msg.usage.output_tokens}

    with a.messages.stream(model="claude-sonnet-4", max_tokens=64,
                           messages=[{"role": "user", "content": "stream please"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    out["anthropic_stream"] = {"text": text, "output": final.usage.output_tokens, "stop": final.stop_reason}

    blocked = a.messages.create(model="claude-sonnet-4", max_tokens=64,
                                messages=[{"role": "user", "content": SECRET_PROMPT}])
    out["anthropic_blocked"] = {"text": blocked.content[0].text}

    with a.messages.stream(model="claude-sonnet-4", max_tokens=64,
                           messages=[{"role": "user", "content": SECRET_PROMPT}]) as stream:
        out["anthropic_blocked_stream"] = {"text": "".join(stream.text_stream)}

    o = openai.OpenAI(base_url=base + "/v1", api_key="sk-openai-sdk-test", max_retries=0)
    chat = o.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}])
    out["openai"] = {"text": chat.choices[0].message.content, "input": chat.usage.prompt_tokens,
                     "output": chat.usage.completion_tokens}

    chunks = o.chat.completions.create(model="gpt-4o", stream=True, stream_options={"include_usage": True},
                                       messages=[{"role": "user", "content": "stream"}])
    text, usage = "", None
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    out["openai_stream"] = {"text": text, "output": usage}

    several = o.chat.completions.create(model="gpt-4o", n=2, messages=[{"role": "user", "content": "two ways"}])
    out["openai_n2"] = {"texts": [c.message.content for c in sorted(several.choices, key=lambda c: c.index)]}
    texts = {}
    for chunk in o.chat.completions.create(model="gpt-4o", n=2, stream=True,
                                           messages=[{"role": "user", "content": "two ways, streamed"}]):
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
    out["openai_n2_stream"] = {"texts": [texts[i] for i in sorted(texts)]}
    out["openai_models"] = {"ids": [m.id for m in o.models.list().data]}

    blocked = o.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": SECRET_PROMPT}])
    out["openai_blocked"] = {"text": blocked.choices[0].message.content}

    # The Responses API, whole and streamed, and a blocked call in both forms.
    resp = o.responses.create(model="gpt-4o", instructions="be brief", input="hello responses")
    out["responses"] = {"text": resp.output_text, "input": resp.usage.input_tokens,
                        "output": resp.usage.output_tokens}
    with o.responses.stream(model="gpt-4o", input=[{"role": "user", "content": "stream responses"}]) as stream:
        streamed = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    out["responses_stream"] = {"text": streamed, "final": final.output_text, "output": final.usage.output_tokens}
    blocked = o.responses.create(model="gpt-4o", input=SECRET_PROMPT)
    out["responses_blocked"] = {"text": blocked.output_text}
    with o.responses.stream(model="gpt-4o", input=SECRET_PROMPT) as stream:
        out["responses_blocked_stream"] = {
            "text": "".join(e.delta for e in stream if e.type == "response.output_text.delta")}

    try:
        a.messages.create(model="claude-sonnet-4", max_tokens=64, extra_headers={"x-fake-status": "429"},
                          messages=[{"role": "user", "content": "rate me"}])
        out["anthropic_429"] = {"error": None}
    except anthropic.RateLimitError as e:
        out["anthropic_429"] = {"error": type(e).__name__, "status": e.status_code}

    models = a.models.list()
    out["anthropic_models"] = {"ids": [m.id for m in models.data]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
