import numpy as np

from ratchet.training.encode import encode


def test_encode_truncates_and_keeps_rows_unpadded(task):
    tokenizer = task()["tokenizer"]
    texts = ["good", "a very long text " * 30, ""]
    encoded = encode(tokenizer, texts, None, max_length=16)
    assert encoded.lengths.tolist() == [len(row) for row in encoded.input_ids]
    assert encoded.lengths[1] == 16 and encoded.lengths[0] == 3 and encoded.lengths[2] == 2  # [CLS] .. [SEP]
    assert all(row.dtype == np.int32 for row in encoded.input_ids)
    assert encoded.input_ids[1][-1] == tokenizer.sep_token_id
    assert encoded.token_type_ids is None


def test_pairs_carry_segment_ids_for_bert(task):
    tokenizer = task()["tokenizer"]
    encoded = encode(tokenizer, ["good drug", "bad"], ["pill", "dose today"], max_length=32)
    assert encoded.token_type_ids is not None
    for ids, types in zip(encoded.input_ids, encoded.token_type_ids, strict=True):
        assert len(ids) == len(types) and types[0] == 0 and types[-1] == 1
    sub = encoded.subset([1])
    assert sub.lengths.tolist() == [encoded.lengths[1]] and (sub.input_ids[0] == encoded.input_ids[1]).all()


def test_encode_batches_large_inputs(task):
    tokenizer = task()["tokenizer"]
    texts = [f"good {i}" for i in range(2500)]  # spans three tokenizer calls
    encoded = encode(tokenizer, texts, None, max_length=8)
    assert len(encoded) == 2500
    single = tokenizer(texts[2400], truncation=True, max_length=8)["input_ids"]
    assert encoded.input_ids[2400].tolist() == single
