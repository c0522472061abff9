"""A sentence-transformers BERT folder (safetensors + tokenizer.json) as a GGUF file for
llama.cpp's embedding mode, written with gguf-py (the llama.cpp project's own GGUF library).

Tensor names come from gguf's BERT name map; the metadata is what llama.cpp's BERT graph and
WordPiece tokenizer read: hyper-parameters, non-causal attention, mean pooling, and the
vocabulary with word-initial pieces marked by "▁" instead of continuations by "##".
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load as load_safetensors

_POOLING = {
    "pooling_mode_mean_tokens": gguf.PoolingType.MEAN,
    "pooling_mode_cls_token": gguf.PoolingType.CLS,
}


def _pooling(files: dict[str, bytes]) -> "gguf.PoolingType":
    config = json.loads(files.get("1_Pooling/config.json", b"{}"))
    for key, kind in _POOLING.items():
        if config.get(key):
            return kind
    return gguf.PoolingType.MEAN


def _vocabulary(tokenizer: dict) -> tuple[list[str], list[int], dict[str, int]]:
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    pieces, types = [], []
    for token in sorted(vocab, key=vocab.__getitem__):
        if token in special:
            pieces.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            pieces.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(gguf.TokenType.NORMAL)
    return pieces, types, vocab


def export_bert(files: dict[str, bytes], name: str, target: Path) -> None:
    """Write the GGUF (f16 matrices, f32 vectors) to `target`, atomically."""
    config = json.loads(files["config.json"])
    tokenizer = json.loads(files["tokenizer.json"])
    if tokenizer["model"].get("type") != "WordPiece":
        raise ValueError("only WordPiece (BERT) tokenizers are converted")
    tensors = load_safetensors(files["model.safetensors"])
    layers = config["num_hidden_layers"]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, layers)

    logging.getLogger("gguf").setLevel(logging.WARNING)  # it logs every file it writes at INFO
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(layers)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling(files))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    pieces, types, vocab = _vocabulary(tokenizer)
    writer.add_tokenizer_model("bert")
    writer.add_token_list(pieces)
    writer.add_token_types(types)
    writer.add_token_type_count(config.get("type_vocab_size", 2))
    writer.add_unk_token_id(vocab["[UNK]"])
    writer.add_sep_token_id(vocab["[SEP]"])
    writer.add_pad_token_id(vocab["[PAD]"])
    writer.add_bos_token_id(vocab["[CLS]"])  # llama.cpp's WordPiece starts every text with it
    writer.add_mask_token_id(vocab["[MASK]"])

    for hf_name, tensor in tensors.items():
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            continue  # position_ids, the unused pooler
        # Matrices in f16 (half the memory; vectors stay within 1e-5 cosine of f32), the rest f32.
        big = tensor.ndim == 2 and gguf_name != "token_types.weight"
        writer.add_tensor(gguf_name, tensor.astype(np.float16 if big else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(target)
