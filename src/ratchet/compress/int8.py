"""int8 dynamic quantization of a fine-tuned transformer, written as data and read back exactly.

The encoder's ``nn.Linear`` layers get int8 weights (one scale per output channel: on the TREC run's
MiniLM that lost 0.004 test macro-F1 where one scale per tensor lost 0.012) and quantize their
activations per batch at run time (PyTorch's dynamic quantization, fbgemm/x86 kernels on CPU);
embeddings, norms and the classification head stay fp32, so the head's decision boundary is the
fine-tune's own. GPT-2's blocks are ``Conv1D``, not ``nn.Linear``: they stay fp32, and the speed
requirement of compress then rejects the candidate rather than this module pretending.

The folder (kind "int8") keeps safetensors only, never a pickle::

    architecture/      the model's Hugging Face config and tokenizer (no weights)
    int8.safetensors   int8 weights with their scale and zero point, every other tensor in fp32
    labels.json, ratchet.json ("source": the fp32 model's ratchet.json), config.json that refuses Auto loading

Loading builds the architecture from its config, quantizes it the same way, and sets each
layer's stored int8 weight: the loaded model computes exactly what was judged.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from ratchet.fsutil import atomic_dir, read_json, write_json

KIND = "int8"
WEIGHTS_FILE = "int8.safetensors"
ARCHITECTURE_DIR = "architecture"
SCHEME = "dynamic int8: per-channel int8 weights of the encoder's Linear layers, activations quantized per batch"
_INT8, _SCALE, _ZERO, _AXIS = ".int8_weight", ".int8_scale", ".int8_zero_point", ".int8_axis"
"""A layer's int8 fields; _AXIS only for per-channel weights (folders written before them hold one scale)."""


def _encoder_attr(model: Any) -> str:
    """The attribute holding the encoder: quantized; the head beside it stays fp32."""
    from ratchet.models.pooled import MeanPoolingClassifier

    return "encoder" if isinstance(model, MeanPoolingClassifier) else model.base_model_prefix


def quantize(model: Any) -> Any:
    """``model`` (fp32, eval) with its encoder's Linear layers dynamically quantized to int8, in place."""
    attr = _encoder_attr(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that eager quantization moves to torchao
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        quantized = torch.ao.quantization.quantize_dynamic(
            getattr(model, attr), {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=False
        )
    setattr(model, attr, quantized)
    return model.eval()


def _quantized_layers(model: Any) -> dict[str, Any]:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return {name: m for name, m in model.named_modules() if isinstance(m, DynamicLinear)}


def int8_tensors(model: Any) -> dict[str, torch.Tensor]:
    """Every tensor of a quantized model as plain tensors (safetensors holds no packed parameters)."""
    tensors: dict[str, torch.Tensor] = {}
    layers = _quantized_layers(model)
    for name, layer in layers.items():
        weight, bias = layer._weight_bias()
        tensors[name + _INT8] = weight.int_repr().contiguous()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            tensors[name + _SCALE] = weight.q_per_channel_scales().to(torch.float64).contiguous()
            tensors[name + _ZERO] = weight.q_per_channel_zero_points().to(torch.int64).contiguous()
            tensors[name + _AXIS] = torch.tensor([weight.q_per_channel_axis()], dtype=torch.int64)
        elif weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            tensors[name + _SCALE] = torch.tensor([weight.q_scale()], dtype=torch.float64)
            tensors[name + _ZERO] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
        else:
            raise ValueError(f"{name}: int8 weights of scheme {weight.qscheme()} cannot be saved")
        if bias is not None:
            tensors[name + ".bias"] = bias.detach().contiguous()
    stored: set[int] = set()
    for name, value in model.state_dict().items():
        if not _in_layers(name, layers) and isinstance(value, torch.Tensor):
            if value.data_ptr() in stored:  # a tied weight (T5's shared embeddings): the model ties it again
                continue
            stored.add(value.data_ptr())
            tensors[name] = value.detach().contiguous()
    return tensors


def _in_layers(key: str, layers: dict[str, Any]) -> bool:
    """Whether a state-dict key belongs to a quantized layer (saved and restored by its own int8 fields)."""
    return key.rpartition(".")[0] in layers or "_packed_params" in key


def save_int8(model: Any, tokenizer: Any, labels: list, out_dir: Path, source_meta: dict[str, Any]) -> None:
    """Write the quantized ``model`` as a kind "int8" folder (see the module docstring)."""
    from safetensors.torch import save_file

    from ratchet.data.frames import labels_record
    from ratchet.models.folder_layout import refuse_auto_loading
    from ratchet.models.pooled import MEAN, MeanPoolingClassifier

    head = MEAN if isinstance(model, MeanPoolingClassifier) else "model"
    config = model.config

    def build(tmp: Path) -> None:
        (tmp / ARCHITECTURE_DIR).mkdir()
        config.save_pretrained(tmp / ARCHITECTURE_DIR)
        tokenizer.save_pretrained(tmp / ARCHITECTURE_DIR)
        save_file(int8_tensors(model), str(tmp / WEIGHTS_FILE))
        write_json(tmp / "labels.json", labels_record(labels))
        keep = {k: v for k, v in source_meta.items() if k in ("backbone", "max_length", "text_pair", "clean")}
        write_json(tmp / "ratchet.json", {**keep, "kind": KIND, "head": head, "scheme": SCHEME,
                                          "source": source_meta})  # fmt: skip
        refuse_auto_loading(tmp, "int8")

    atomic_dir(Path(out_dir), build)


def quantize_folder(source: Path, out_dir: Path) -> None:
    """The fp32 transformer folder ``source``, quantized, as an int8 folder (decision.json carried over)."""
    from ratchet.models.load import load_classifier

    model, tokenizer, labels, meta = load_classifier(source)
    save_int8(quantize(model.float().eval()), tokenizer, labels, out_dir, meta)
    if (Path(source) / "decision.json").is_file():
        shutil.copy2(Path(source) / "decision.json", Path(out_dir) / "decision.json")


def load_int8(folder: Path) -> tuple[Any, Any, list, dict[str, Any]]:
    """An int8 folder -> (quantized model in eval mode, tokenizer, labels, meta)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from ratchet.errors import RatchetError
    from ratchet.models.load import _quiet_transformers, damaged, read_folder_json
    from ratchet.models.pooled import MEAN, MeanPoolingClassifier

    folder = Path(folder)
    meta = read_folder_json(folder / "ratchet.json")
    labels = read_folder_json(folder / "labels.json", "labels")["labels"]
    architecture = folder / ARCHITECTURE_DIR
    with _quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(architecture)
            tokenizer = AutoTokenizer.from_pretrained(architecture)
        except (OSError, ValueError) as exc:
            raise RatchetError(f"{folder} cannot be loaded ({exc}): re-run the compress step") from None
        if meta.get("head") == MEAN:
            model = MeanPoolingClassifier(AutoModel.from_config(config), len(labels))
        else:
            model = AutoModelForSequenceClassification.from_config(config)
    quantize(model.eval())
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError) as exc:
        raise damaged(folder / WEIGHTS_FILE, exc) from None
    layers = _quantized_layers(model)
    try:
        for name, layer in layers.items():
            layer.set_weight_bias(_stored_weight(tensors, name), tensors.pop(name + ".bias", None))
        # Tensor by tensor: load_state_dict would send quantized layers down torch's legacy loading path.
        persistent = set(model.state_dict())  # non-persistent buffers (position ids) come from the config
        own = {k: v for k, v in (*model.named_parameters(), *model.named_buffers()) if k in persistent}
        loaded = {own[name].data_ptr() for name in tensors if name in own}
        missing = [
            name for name, value in own.items()
            if name not in tensors and not _in_layers(name, layers) and value.data_ptr() not in loaded
        ]  # fmt: skip
        unexpected = [name for name in tensors if name not in own]
        with torch.no_grad():
            for name, value in tensors.items():
                if name in own:
                    own[name].copy_(value)
    except (KeyError, RuntimeError) as exc:
        raise damaged(folder / WEIGHTS_FILE, exc) from None
    if missing or unexpected:
        raise damaged(folder / WEIGHTS_FILE, f"tensors missing {missing[:3]} or unexpected {unexpected[:3]}")
    return model.eval(), tokenizer, labels, meta


def _stored_weight(tensors: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """A layer's quantized weight from its int8 fields (popped): per channel, or one scale (older folders)."""
    values, scale, zero = tensors.pop(name + _INT8), tensors.pop(name + _SCALE), tensors.pop(name + _ZERO)
    axis = tensors.pop(name + _AXIS, None)
    if axis is None:
        return torch._make_per_tensor_quantized_tensor(values, float(scale[0]), int(zero[0]))
    return torch._make_per_channel_quantized_tensor(values, scale, zero, int(axis[0]))


def is_int8(folder: Path) -> bool:
    meta = Path(folder) / "ratchet.json"
    return meta.is_file() and read_json(meta).get("kind") == KIND


def quantize_any(source: Path, out_dir: Path) -> None:
    """``source`` quantized: a fine-tune directly; an ensemble member by member (a TF-IDF member unchanged)."""
    from ratchet.models.ensemble import MEMBERS, save_ensemble

    meta = read_json(Path(source) / "ratchet.json")
    if meta.get("kind") != "ensemble":
        quantize_folder(source, out_dir)
        return
    scratch = Path(out_dir).with_name(Path(out_dir).name + "-members")
    members = sorted((Path(source) / MEMBERS).iterdir(), key=lambda p: int(p.name))
    quantized = []
    for member in members:
        if read_json(member / "ratchet.json").get("kind") == "transformer":
            quantize_folder(member, scratch / member.name)
            quantized.append(scratch / member.name)
        else:
            quantized.append(member)
    save_ensemble(quantized, out_dir, meta.get("weights"))
    shutil.rmtree(scratch, ignore_errors=True)
    if (Path(source) / "decision.json").is_file():
        shutil.copy2(Path(source) / "decision.json", Path(out_dir) / "decision.json")


def dequantized(model: Any) -> Any:
    """A float copy of a quantized ``model``: each int8 Linear back to ``nn.Linear`` with its dequantized weight.

    Used where int8 kernels cannot go (ONNX export, gradients for explanations); it computes the int8 weights
    exactly, without the run-time rounding of activations, so its outputs are close to, not equal to, the
    quantized model's."""
    import copy

    model = copy.deepcopy(model)
    for name, layer in _quantized_layers(model).items():
        weight, bias = layer._weight_bias()
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight.dequantize())
            if bias is not None:
                linear.bias.copy_(bias)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, attr, linear)
    return model.eval()
