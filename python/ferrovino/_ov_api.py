"""The Python side of ``Core``, ``CompiledModel`` and ``InferRequest``: input normalisation and ``OVDict`` results
around the native classes, and the module-level ``read_model``, ``compile_model``, ``save_model`` and ``serialize``."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from ferrovino import _native
from ferrovino._data_dispatch import dispatch
from ferrovino._ovdict import OVDict


class Version:
    """The version of a device plugin (``Core.get_versions``)."""

    def __init__(self, build_number: str, description: str) -> None:
        self.build_number = build_number
        self.description = description

    def __repr__(self) -> str:
        return f"<Version: {self.description} {self.build_number}>"


class InferRequest(_native.InferRequest):
    """An infer request: ``infer(inputs)`` returns an ``OVDict`` of the outputs."""

    def __init__(self, other: _native.InferRequest) -> None:
        self._callback: Optional[Callable[[Any], None]] = None
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self.userdata: Any = None

    def _results(self, share_outputs: bool = False) -> OVDict:
        return OVDict(dict(zip(self.model_outputs, self._output_arrays(share_outputs))))

    def infer(self, inputs: Any = None, share_inputs: bool = False, share_outputs: bool = False, *,
              decode_strings: bool = True) -> OVDict:
        """Binds ``inputs`` (see the module docs of ``_data_dispatch``), runs one inference and returns the outputs."""
        self.wait()
        dispatch(self, inputs, share_inputs)
        super().infer()
        return self._results(share_outputs)

    @property
    def results(self) -> OVDict:
        """The outputs of the last inference."""
        return self._results()

    def set_callback(self, callback: Callable[[Any], None], userdata: Any = None) -> None:
        """Calls ``callback(userdata)`` after each asynchronous inference."""
        self._callback = callback
        self.userdata = userdata

    def _run_async(self) -> None:
        try:
            super().infer()
            if self._callback is not None:
                self._callback(self.userdata)
        except BaseException as error:  # re-raised by wait()
            self._error = error

    def start_async(self, inputs: Any = None, userdata: Any = None, share_inputs: bool = False) -> None:
        """Binds ``inputs`` and starts an inference on a worker thread (the interpreter stays free meanwhile)."""
        self.wait()
        dispatch(self, inputs, share_inputs)
        if userdata is not None:
            self.userdata = userdata
        self._thread = threading.Thread(target=self._run_async, daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Waits for the running asynchronous inference and re-raises its error, if any."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def wait_for(self, timeout: int) -> bool:
        """Waits up to ``timeout`` milliseconds (-1: forever); True when no inference is running any more."""
        if self._thread is not None:
            self._thread.join(None if timeout < 0 else timeout / 1000)
            if self._thread.is_alive():
                return False
        self.wait()
        return True

    def get_compiled_model(self) -> "CompiledModel":
        """The compiled model this request belongs to."""
        return CompiledModel(super().get_compiled_model())


class CompiledModel(_native.CompiledModel):
    """A compiled model; calling it runs an inference on a cached request and returns an ``OVDict``."""

    def __init__(self, other: _native.CompiledModel) -> None:
        self._infer_request: Optional[InferRequest] = None

    def create_infer_request(self) -> InferRequest:
        """A new infer request."""
        return InferRequest(super().create_infer_request())

    def infer_new_request(self, inputs: Any = None) -> OVDict:
        """Runs one inference on a new request."""
        return self.create_infer_request().infer(inputs)

    def __call__(self, inputs: Any = None, share_inputs: bool = True, share_outputs: bool = False, *,
                 decode_strings: bool = True) -> OVDict:
        if self._infer_request is None:
            self._infer_request = self.create_infer_request()
        return self._infer_request.infer(inputs, share_inputs=share_inputs, share_outputs=share_outputs)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


class Core(_native.Core):
    """The runtime's entry point: reads models and compiles them for a device."""

    def read_model(self, model: Any, weights: Any = None, config: Optional[dict] = None) -> _native.Model:
        """Reads a model: an IR ``.xml`` path (the ``.bin`` beside it unless ``weights`` is given), IR XML bytes and
        weight bytes, or an ONNX model (an ``.onnx`` path, serialized ONNX bytes or an ``onnx.ModelProto``)."""
        if _is_onnx(model):
            from .frontends.onnx import read_onnx

            return read_onnx(model)
        if _is_path(model) and Path(model).suffix.lower() not in ("", ".xml"):
            raise _native.UnsupportedError(
                f"cannot read '{model}': Core.read_model reads OpenVINO IR (.xml) and ONNX (.onnx) models"
            )
        if _is_path(weights):
            weights = os.fspath(weights)
        return super().read_model(os.fspath(model) if _is_path(model) else model, weights, config)

    def compile_model(self, model: Any, device_name: Optional[str] = None, config: Optional[dict] = None, *,
                      weights: Optional[bytes] = None) -> CompiledModel:
        """Compiles a model (or reads then compiles a path, or XML bytes with ``weights``); no device means AUTO."""
        if weights is not None or isinstance(model, (bytes, bytearray)):
            model = self.read_model(model, weights)
        elif _is_path(model) or _is_onnx(model):
            model = self.read_model(model)
        return CompiledModel(super().compile_model(model, device_name, config))

    def get_versions(self, device_name: str) -> dict[str, Version]:
        """Device name → ``Version`` of the devices behind ``device_name``."""
        return {name: Version(build, "ferrovino") for name, build in super().get_versions(device_name).items()}


def _is_onnx(model: Any) -> bool:
    """True for an ``.onnx`` path, an ``onnx.ModelProto``, or bytes that are not IR XML."""
    if _is_path(model):
        return Path(model).suffix.lower() == ".onnx"
    if isinstance(model, (bytes, bytearray)):
        return not bytes(model[:64]).lstrip().startswith(b"<")
    return type(model).__name__ == "ModelProto"


def read_model(model: Any, weights: Any = None, config: Optional[dict] = None) -> _native.Model:
    """Reads a model with a new ``Core``."""
    return Core().read_model(model, weights, config)


def compile_model(model: Any, device_name: Optional[str] = "AUTO", config: Optional[dict] = None) -> CompiledModel:
    """Compiles a model (or a path) with a new ``Core``."""
    return Core().compile_model(model, device_name, config)


def save_model(model: _native.Model, output_model: Any, compress_to_fp16: bool = True) -> None:
    """Writes ``model`` as IR v11 to ``output_model`` (.xml, weights beside it), f32 weights stored as f16 by default."""
    _native.write_model(model, os.fspath(output_model), None, compress_to_fp16)


def serialize(model: _native.Model, xml_path: Any, bin_path: Any = "", version: str = "UNSPECIFIED") -> None:
    """Writes ``model`` as IR v11 to ``xml_path`` and ``bin_path`` (default: ``xml_path`` with ``.bin``), weights as is."""
    if version not in ("UNSPECIFIED", "IR_V11"):
        raise _native.UnsupportedError(f"serialize: IR version {version} is not supported (only IR_V11 is written)")
    _native.write_model(model, os.fspath(xml_path), os.fspath(bin_path) or None, False)
