"""Debounce, cache and settings policies (no server, no gateway)."""

from lsp.cache import CompletionCache
from lsp.config import Settings
from lsp.debounce import MAX_DELAY_MS, Debouncer


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_fixed_and_manual_debounce():
    d = Debouncer()
    assert d.delay_ms(150, adaptive=False) == 150
    assert d.delay_ms(150, manual=True) == 0


def test_adaptive_debounce_follows_typing_speed_and_context():
    clock = FakeClock()
    d = Debouncer(clock)
    for _ in range(30):
        clock.t += 0.120  # 120 ms between keystrokes
        d.record_keystroke()
    mid_word = d.delay_ms(150, trigger_char="a")
    after_dot_at_eol = d.delay_ms(150, trigger_char=".", line_end=True)
    assert round(mid_word) == 360  # unlikely moment: wait three keystroke intervals
    assert after_dot_at_eol < mid_word  # likely moment: answer sooner
    # pauses over a second are not typing intervals
    clock.t += 5
    d.record_keystroke()
    assert round(d.delay_ms(150, trigger_char="a")) == 360


def test_adaptive_debounce_takes_half_the_latency_off_and_clamps():
    clock = FakeClock()
    d = Debouncer(clock)
    for _ in range(30):
        clock.t += 0.4
        d.record_keystroke()
    assert d.delay_ms(150, trigger_char="a") == MAX_DELAY_MS  # 3 * 400 clamped to 1000
    d.latency.add(400)
    assert round(d.delay_ms(150, trigger_char="a")) == 1000  # 1200 - 200
    d.latency.add(3000)
    d.latency.add(3000)
    assert d.delay_ms(150, trigger_char="a") == 600  # at most half the delay is taken off
    for _ in range(100):  # the whole window now says 50 ms (clamped to 100 ms) per keystroke
        clock.t += 0.05
        d.record_keystroke()
    # 1.5 * 100 = 150, half taken off = 75, below the 100 ms floor
    assert d.delay_ms(150, trigger_char=".", line_end=True, document_end=True) == 100


def test_cache_same_prompt_and_typing_along():
    c = CompletionCache(size=2)
    c.put(("k1",), "def f(", "", "a, b):")
    assert c.get(("k1",)) == "a, b):"
    assert c.get(("other",)) is None
    assert c.typed_along("def f(a", "") == ", b):"
    assert c.typed_along("def f(a, b):", "") is None  # fully typed: nothing left
    assert c.typed_along("def f(x", "") is None  # diverged
    assert c.typed_along("def f(a", ")") is None  # different text after the cursor
    c.put(("k2",), "p", "", "x")
    c.put(("k3",), "q", "", "y")
    assert c.get(("k1",)) is None  # evicted (LRU, size 2)


def test_settings_accept_both_payload_shapes_and_ignore_bad_values():
    s = Settings()
    s2 = s.merged({"settings": {"ossSidecar": {"maxTokens": 16, "debounceMs": 0}}})
    assert (s2.max_tokens, s2.debounce_ms) == (16, 0)
    s3 = s2.merged({"gatewayUrl": "http://127.0.0.1:9/v1", "maxTokens": "lots", "features": {"ask": False}})
    assert s3.base_url == "http://127.0.0.1:9/v1"
    assert s3.max_tokens == 16
    assert s3.features.ask is False and s3.features.inline_completion is True
    assert Settings().merged({"gatewayUrl": "http://h:1"}).base_url == "http://h:1/v1"
    assert s.merged(None) is s
