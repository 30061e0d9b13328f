"""lmdist.lm.decode: padding, position ids, prompt encoding, batches, and the decoder's KV-cache steps."""

import pytest
import torch

import tiny_lm
from lmdist.lm import decode
from tiny_lm import EOS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_lm.tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_lm.model(sharpen=1.0)


def test_pad_rows_left_right_and_width():
    ids, mask = decode.pad_rows([[1, 2, 3], [4], []], 9, CPU)
    assert ids.tolist() == [[1, 2, 3], [9, 9, 4], [9, 9, 9]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]
    ids, mask = decode.pad_rows([[1, 2, 3], [4]], 9, CPU, left=False)
    assert ids.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = decode.pad_rows([[4]], 0, CPU, width=3)
    assert ids.tolist() == [[0, 0, 4]] and mask.tolist() == [[0, 0, 1]]


def test_positions_count_from_the_first_token():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert decode.positions(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4], [0, 0, 0, 0, 0]]
    assert torch.equal(decode.positions(mask.bool()), decode.positions(mask))


def test_encode_strings_ids_and_empty_prompts(tokenizer):
    assert decode.encode(tokenizer, ["w1 w2", "", "w3"]) == [[1, 2], [EOS], [3]]  # empty: BOS
    assert decode.encode(tokenizer, [[5, 6], "w7 w8"]) == [[5, 6], [7, 8]]
    with pytest.raises(ValueError, match="must not be empty"):
        decode.encode(tokenizer, [[]])
    with pytest.raises(ValueError, match="prompts must be a list"):
        decode.encode(tokenizer, "w1 w2")
    with pytest.raises(ValueError, match="prompts must be a list"):
        decode.encode(tokenizer, [None])


def test_batches_cover_the_items_in_order():
    assert [list(c) for c in decode.batches(list(range(7)), 3, False, "x")] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(c) for c in decode.batches(range(4), 4, False, "x")] == [[0, 1, 2, 3]]


def test_detokenize_marks_the_eos(tokenizer):
    assert decode.detokenize(tokenizer, [1, 2, EOS], [EOS]) == ("w1 w2", True)
    assert decode.detokenize(tokenizer, [1, 2], [EOS]) == ("w1 w2", False)
    assert decode.detokenize(tokenizer, [], [EOS]) == ("", False)


@pytest.mark.parametrize("static", [False, True])
def test_decoder_steps_match_a_full_forward_pass(model, static):
    """Prefill of left-padded prompts then cached steps give the logits of one uncached forward pass
    of each unpadded sequence (float32 rounding)."""
    prompts, steps = [[1, 2, 3, 4], [5], [6, 7]], [[8, 9, 10], [11, 12, 13], [1, 1, 2]]
    ids, mask = decode.pad_rows(prompts, 0, CPU)
    with torch.inference_mode():
        dec = (decode.StaticDecoder(model, ids, mask, len(steps[0]), graph=False) if static
               else decode.DynamicDecoder(model, ids, mask))
        got = [dec.logits.clone()]
        for t in range(len(steps[0]) - 1):
            got.append(dec.step(torch.tensor([s[t] for s in steps])).clone())
        for r, (p, s) in enumerate(zip(prompts, steps)):
            full = model(input_ids=torch.tensor([p + s[:-1]])).logits[0, len(p) - 1:]
            torch.testing.assert_close(torch.stack([g[r] for g in got]), full, atol=1e-5, rtol=1e-5)
