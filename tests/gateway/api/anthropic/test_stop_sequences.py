"""The stop-sequence matcher: text that might begin a sequence waits; the sequence is never sent."""
from gateway.api.anthropic.stop_sequences import StopMatcher


def feed_all(matcher: StopMatcher, pieces: list[str]) -> str:
    out = ""
    for piece in pieces:
        out += matcher.feed(piece)
        if matcher.matched:
            return out
    return out + matcher.flush()


def test_a_sequence_split_over_pieces_stops_the_text_before_it():
    matcher = StopMatcher(["END"])
    assert feed_all(matcher, ["Hello E", "N", "D and more"]) == "Hello "
    assert matcher.matched == "END"


def test_a_false_start_is_sent_once_it_cannot_match():
    matcher = StopMatcher(["END"])
    assert matcher.feed("Hello EN") == "Hello "
    assert matcher.feed("ough") == "ENough"
    assert matcher.flush() == "" and matcher.matched is None


def test_the_earliest_of_several_sequences_wins():
    matcher = StopMatcher(["world", "lo"])
    assert feed_all(matcher, ["Hello world"]) == "Hel"
    assert matcher.matched == "lo"


def test_no_sequences_passes_text_through():
    matcher = StopMatcher([])
    assert matcher.feed("abc") == "abc" and matcher.flush() == ""
