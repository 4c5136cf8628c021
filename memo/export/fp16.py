"""Mixed-precision (FP16) conversion of an ONNX graph.

Used for ONNX Runtime fp16 runs and for TensorRT 11, whose networks are strongly typed
(no FP16 builder flag any more): the precision lives in the graph. Graph inputs and
outputs stay float32; numerically sensitive operators (normalisations, softmax, sigmoid,
exp/log/pow, reductions) and the tail of the graph after the last weighted layer stay
float32 too, with casts inserted by ``onnxconverter-common``.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

from memo.errors import MissingDependency

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

#: Operators kept in float32.
FP32_OPS: tuple[str, ...] = (
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "LRN",
    "Softmax",
    "LogSoftmax",
    "Sigmoid",
    "Exp",
    "Log",
    "Pow",
    "Sqrt",
    "ReduceMean",
    "ReduceSum",
    "ReduceL2",
)
#: Operators that move or reshape data: followed backwards from the outputs to keep the tail fp32.
_PASSTHROUGH: frozenset[str] = frozenset(
    {
        "Squeeze",
        "Unsqueeze",
        "Reshape",
        "Flatten",
        "Identity",
        "Transpose",
        "Concat",
        "Cast",
        "Gather",
        "Slice",
    }
)


def _name_nodes(model: onnx.ModelProto) -> None:
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def tail_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the graph outputs and the last non-passthrough, non-fp32 op."""
    producer = {out: node for node in model.graph.node for out in node.output}
    keep: list[str] = []
    stack = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in _PASSTHROUGH or node.op_type in FP32_OPS or node.op_type == "Constant":
            keep.append(node.name)
            stack.extend(node.input)
    return keep


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """An fp16 copy of ``model`` with float32 inputs/outputs and sensitive ops in float32."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise MissingDependency("onnxconverter-common", "onnx", "fp16 ONNX conversion") from None
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # no serialisation: works past the 2 GB protobuf limit
    model = copy
    _name_nodes(model)
    tail = tail_nodes(model)
    log.info("fp16: keeping %s and %d tail node(s) in float32", ", ".join(FP32_OPS), len(tail))
    wanted = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(
            model, keep_io_types=True, op_block_list=list(FP32_OPS), node_block_list=tail
        )
    if caught:  # one per weight clipped to the fp16 range: summarise instead of flooding stderr
        log.info(
            "fp16: %d values were clipped to the float16 range (e.g. %s)", len(caught), caught[0].message
        )
    restore_output_types(converted, wanted)
    return converted


def restore_output_types(model: onnx.ModelProto, wanted: dict[str, int]) -> None:
    """Make every graph output the type it had before conversion.

    onnxconverter-common 1.16 casts an output to float16 even with ``keep_io_types`` when
    the node producing it is in ``node_block_list``; the final Cast is retargeted (or one added).
    """
    import onnx

    producer = {out: node for node in model.graph.node for out in node.output}
    for value in model.graph.output:
        want = wanted[value.name]
        if value.type.tensor_type.elem_type == want:
            continue
        node = producer.get(value.name)
        if node is not None and node.op_type == "Cast":
            for attribute in node.attribute:
                if attribute.name == "to":
                    attribute.i = want
        else:
            inner = f"{value.name}_before_cast"
            if node is not None:
                node.output[list(node.output).index(value.name)] = inner
            model.graph.node.append(
                onnx.helper.make_node("Cast", [inner], [value.name], name=f"{value.name}_cast_back", to=want)
            )
        value.type.tensor_type.elem_type = want
