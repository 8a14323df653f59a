"""The Python side of ``Core``, ``CompiledModel`` and ``InferRequest``: input normalisation and ``OVDict`` results
around the native classes, and the module-level ``read_model``, ``compile_model``, ``save_model`` and ``serialize``."""

from __future__ import annotations

import collections
import datetime
import enum
import functools
import io
import operator
import os
import queue
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ferrovino import _native
from ferrovino._custom_op import Extensions
from ferrovino._data_dispatch import InputPorts, dispatch
from ferrovino._ovdict import OVDict
from ferrovino.properties import from_value, to_config


class Version:
    """The version of a device plugin (``Core.get_versions``)."""

    def __init__(self, build_number: str, description: str) -> None:
        self.build_number = build_number
        self.description = description

    def __repr__(self) -> str:
        return f"<Version: {self.description} {self.build_number}>"


def _serve(jobs: queue.SimpleQueue) -> None:
    """The loop of a request's worker thread: runs each job until ``None`` arrives (when the request is collected)."""
    while True:
        job = jobs.get()
        if job is None:
            return
        job()
        job = None  # hold no reference to the request while idle


#: ``finish(error)`` runs on the worker after an asynchronous inference (``error`` is its exception, if any) and
#: returns the exception ``wait()`` raises.
Finish = Callable[[Optional[BaseException]], Optional[BaseException]]


class ProfilingInfo:
    """One node of a profiling report (``InferRequest.get_profiling_info()``, with ``PERF_COUNT`` enabled)."""

    class Status(enum.IntEnum):
        """Whether the node ran in the profiled inference."""

        NOT_RUN = 0
        OPTIMIZED_OUT = 1
        EXECUTED = 2

        def __str__(self) -> str:
            return f"Status.{self.name}"

    NOT_RUN = Status.NOT_RUN
    OPTIMIZED_OUT = Status.OPTIMIZED_OUT
    EXECUTED = Status.EXECUTED

    def __init__(self) -> None:
        self.node_name = ""
        self.node_type = ""
        self.exec_type = ""
        self.status = ProfilingInfo.Status.NOT_RUN
        self.real_time = datetime.timedelta(0)
        self.cpu_time = datetime.timedelta(0)

    @classmethod
    def _from_row(cls, row: tuple) -> "ProfilingInfo":
        """A report line from the native ``(name, type, exec_type, status, real_us, cpu_us)`` tuple."""
        info = cls()
        info.node_name, info.node_type, info.exec_type, status, real_us, cpu_us = row
        info.status = ProfilingInfo.Status(status)
        info.real_time = datetime.timedelta(microseconds=real_us)
        info.cpu_time = datetime.timedelta(microseconds=cpu_us)
        return info

    def __repr__(self) -> str:
        return "<ProfilingInfo>"


class InferRequest(_native.InferRequest):
    """An infer request: ``infer(inputs)`` returns an ``OVDict`` of the outputs; ``start_async`` runs an inference
    on the request's worker thread (one per request, started on first use) while the caller goes on."""

    def __init__(self, other: _native.InferRequest) -> None:
        self._callback: Optional[Callable[[Any], None]] = None
        self._jobs: Optional[queue.SimpleQueue] = None
        self._idle = threading.Event()
        self._idle.set()
        self._error: Optional[BaseException] = None
        self._has_run = False
        self.userdata: Any = None
        self._input_ports: Optional[InputPorts] = None
        self._output_ports: Optional[list] = None

    def _inputs(self) -> InputPorts:
        """The model inputs as binding uses them (looked up on first use: a compiled model's inputs never change)."""
        if self._input_ports is None:
            self._input_ports = InputPorts(self.model_inputs)
        return self._input_ports

    def _results(self, share_outputs: bool = False) -> OVDict:
        return self._as_results(self._output_arrays(share_outputs))

    def _as_results(self, arrays: list) -> OVDict:
        """The outputs' arrays keyed by the model's output ports."""
        if self._output_ports is None:
            self._output_ports = self.model_outputs
        return OVDict(dict(zip(self._output_ports, arrays)))

    def _check_idle(self) -> None:
        """Refuses a request whose asynchronous inference is running; forgets the error of a finished one (as
        OpenVINO does, a new inference clears it)."""
        if not self._idle.is_set():
            raise _native.DeviceError("Infer Request is busy")
        self._error = None

    def infer(self, inputs: Any = None, share_inputs: bool = False, share_outputs: bool = False, *,
              decode_strings: bool = True) -> OVDict:
        """Binds ``inputs`` (see the module docs of ``_data_dispatch``), runs one inference and returns the outputs."""
        self._check_idle()
        if share_inputs and not share_outputs and type(inputs) is dict:
            # Arrays that can be shared as they are: bound, run and read back in one native call.
            arrays = self._infer_shared(inputs)
            if arrays is not None:
                self._has_run = True
                return self._as_results(arrays)
        dispatch(self, inputs, share_inputs)
        super().infer()
        self._has_run = True
        return self._results(share_outputs)

    @property
    def results(self) -> OVDict:
        """The outputs of the last inference."""
        return self._results()

    def set_callback(self, callback: Callable[[Any], None], userdata: Any) -> None:
        """Calls ``callback(userdata)`` on the worker thread after each successful asynchronous inference; an
        exception it raises is raised, as a RuntimeError naming it, by ``wait`` and ``wait_for``."""
        self._callback = callback
        self.userdata = userdata

    def _after_inference(self, error: Optional[BaseException]) -> Optional[BaseException]:
        """The ``Finish`` of ``start_async``: calls the callback, wrapping its exception as OpenVINO does."""
        if error is not None or self._callback is None:
            return error
        try:
            self._callback(self.userdata)
        except RuntimeError as e:
            return e
        except BaseException as e:  # noqa: BLE001 - any exception of a user callback reaches wait()
            wrapped = RuntimeError(f"{type(e).__name__}: {e}")
            wrapped.__cause__ = e
            return wrapped
        return None

    def _run(self, finish: Finish, release: Optional[Callable[[], None]]) -> None:
        """A job of the worker thread: the inference, then ``finish``, then ``release`` once the request is idle."""
        error: Optional[BaseException] = None
        try:
            super()._infer_marked()
            self._has_run = True
        except BaseException as e:  # noqa: BLE001 - handed to finish, raised by wait()
            error = e
        self._error = finish(error)
        self._idle.set()
        if release is not None:
            release()

    def _launch(self, inputs: Any, share_inputs: bool, finish: Finish,
                release: Optional[Callable[[], None]] = None) -> None:
        """Binds ``inputs`` and hands the inference to the worker thread (started on first use)."""
        self._check_idle()
        dispatch(self, inputs, share_inputs)
        self._mark_busy()
        self._idle.clear()
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(self._jobs,), name="ferrovino-infer-request", daemon=True).start()
            weakref.finalize(self, self._jobs.put, None)
        self._jobs.put(functools.partial(self._run, finish, release))

    def start_async(self, inputs: Any = None, userdata: Any = None, share_inputs: bool = False) -> None:
        """Binds ``inputs`` and starts an inference on the worker thread; ``userdata``, when given, replaces the
        callback's (with no callback set it is ignored with a warning, as OpenVINO does). A request still running
        raises "Infer Request is busy"."""
        if userdata is not None:
            if self._callback is None:
                warnings.warn("There is no callback function!", RuntimeWarning, stacklevel=2)
            else:
                self.userdata = userdata
        self._launch(inputs, share_inputs, self._after_inference)

    def wait(self) -> None:
        """Waits for the running asynchronous inference (and its callback) and raises its error, if any (again at
        each call, until the next inference)."""
        self._idle.wait()
        if self._error is not None:
            raise self._error

    def wait_for(self, timeout: int) -> bool:
        """Waits up to ``timeout`` milliseconds (negative: forever). True when an inference has completed and none
        is running; False while one runs and, as in OpenVINO, for a request that has never run an inference."""
        if not self._idle.wait(None if timeout < 0 else timeout / 1000):
            return False
        self.wait()
        return self._has_run

    def get_profiling_info(self) -> list[ProfilingInfo]:
        """Per-node times of the last inference, in execution order: model inputs and outputs and nodes fused into
        another step are ``NOT_RUN``; the steps that ran are ``EXECUTED`` (all ``NOT_RUN`` with zero times when the
        model was compiled without ``PERF_COUNT`` or before the first inference)."""
        self._check_idle()
        return [ProfilingInfo._from_row(row) for row in self._profiling_info()]

    @property
    def profiling_info(self) -> list[ProfilingInfo]:
        """The report of :meth:`get_profiling_info`."""
        return self.get_profiling_info()

    def get_compiled_model(self) -> "CompiledModel":
        """The compiled model this request belongs to."""
        return CompiledModel(super().get_compiled_model())


class AsyncInferQueue:
    """A pool of infer requests for one compiled model: ``start_async`` runs each inference on an idle request
    (blocking while all are busy) and ``callback(request, userdata)`` sees its results."""

    def __init__(self, model: "CompiledModel", jobs: int = 0) -> None:
        """``jobs`` requests (0: the compiled model's ``OPTIMAL_NUMBER_OF_INFER_REQUESTS``)."""
        jobs = operator.index(jobs)
        if jobs < 0:
            raise ValueError(f"AsyncInferQueue: jobs must be >= 0 (0: the optimal number), got {jobs}")
        if jobs == 0:
            jobs = max(1, int(model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._requests = [model.create_infer_request() for _ in range(jobs)]
        self._userdata: list[Any] = [None] * jobs
        self._idle = collections.deque(range(jobs))
        self._ready = threading.Condition()
        self._callback: Optional[Callable[[InferRequest, Any], None]] = None
        self._errors: list[BaseException] = []

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator[InferRequest]:
        return iter(self._requests)

    def __getitem__(self, i: int) -> InferRequest:
        if not 0 <= i < len(self._requests):
            raise IndexError(f"AsyncInferQueue has {len(self._requests)} requests; index {i} is out of range")
        return self._requests[i]

    def __repr__(self) -> str:
        return f"<AsyncInferQueue: {len(self._requests)} jobs>"

    @property
    def userdata(self) -> list[Any]:
        """The userdata last passed to ``start_async``, per request."""
        return list(self._userdata)

    def set_callback(self, callback: Callable[[InferRequest, Any], None]) -> None:
        """Calls ``callback(request, userdata)`` after each successful inference; an exception it raises is re-raised
        by ``wait_all``."""
        self._callback = callback

    def is_ready(self) -> bool:
        """True when a request is idle (``start_async`` would not block)."""
        with self._ready:
            return bool(self._idle)

    def get_idle_request_id(self) -> int:
        """The id of an idle request, waiting for one to finish if all are busy."""
        with self._ready:
            self._ready.wait_for(lambda: self._idle)
            return self._idle[0]

    def wait_all(self) -> None:
        """Waits for every request to finish and re-raises the first error of an inference or callback, if any."""
        with self._ready:
            self._ready.wait_for(lambda: len(self._idle) == len(self._requests))
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def start_async(self, inputs: Any = None, userdata: Any = None, share_inputs: bool = False) -> None:
        """Runs an inference of ``inputs`` on the next idle request, waiting for one if all are busy."""
        with self._ready:
            self._ready.wait_for(lambda: self._idle)
            i = self._idle.popleft()
        self._userdata[i] = userdata
        try:
            self._requests[i]._launch(inputs, share_inputs, functools.partial(self._finish, i),
                                      functools.partial(self._release, i))
        except BaseException:
            self._release(i)
            raise

    def _finish(self, i: int, error: Optional[BaseException]) -> None:
        """After request ``i``'s inference: the callback, with any error kept for ``wait_all``."""
        if error is None and self._callback is not None:
            try:
                self._callback(self._requests[i], self._userdata[i])
            except BaseException as e:  # noqa: BLE001 - re-raised by wait_all()
                error = e
        if error is not None:
            with self._ready:
                self._errors.append(error)

    def _release(self, i: int) -> None:
        """Returns request ``i`` to the idle pool."""
        with self._ready:
            self._idle.append(i)
            self._ready.notify_all()


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

    def get_property(self, name: str) -> Any:
        """Reads a compiled-model property (``SUPPORTED_PROPERTIES`` lists them); enum-valued ones come back as
        ``ferrovino.properties`` enum members, element types as ``Type``."""
        return from_value(str(name), super().get_property(name))

    def set_property(self, properties: Any) -> None:
        """Compiled models take no property changes: always raises (set properties in ``compile_model``)."""
        super().set_property(to_config(properties))

    def export_model(self, model_stream: Optional[io.BytesIO] = None) -> Optional[io.BytesIO]:
        """The compiled model as a blob for ``Core.import_model``: a new ``BytesIO`` (as OpenVINO returns), or
        written to ``model_stream`` when one is given."""
        blob = _native.Core._export_model(self)
        if model_stream is None:
            return io.BytesIO(blob)
        model_stream.write(blob)
        return None

    def _cached_request(self) -> InferRequest:
        """The request that calls of the compiled model run on (created on first use)."""
        if self._infer_request is None:
            self._infer_request = self.create_infer_request()
        return self._infer_request

    def query_state(self) -> list:
        """The variable states of the request that calls of the compiled model run on."""
        return self._cached_request().query_state()

    def reset_state(self) -> None:
        """Resets the variables of the request that calls of the compiled model run on."""
        self._cached_request().reset_state()

    def __call__(self, inputs: Any = None, share_inputs: bool = True, share_outputs: bool = False, *,
                 decode_strings: bool = True) -> OVDict:
        return self._cached_request().infer(inputs, share_inputs=share_inputs, share_outputs=share_outputs)


def _config(config: Any) -> Optional[dict]:
    """A configuration argument (dict, ``(key, value)`` pair or None) as the native layer takes it."""
    return None if config is None else to_config(config)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


class Core(_native.Core):
    """The runtime's entry point: reads models and compiles them for a device."""

    def read_model(self, model: Any, weights: Any = None, config: Optional[dict] = None) -> _native.Model:
        """Reads a model: an IR ``.xml`` path (the ``.bin`` beside it unless ``weights`` is given), IR XML bytes and
        weight bytes, or an ONNX model (an ``.onnx`` path, serialized ONNX bytes or an ``onnx.ModelProto``)."""
        if _is_onnx(model):
            from .frontends.onnx import read_onnx

            return read_onnx(model, self._extensions().onnx)
        if _is_path(model) and Path(model).suffix.lower() not in ("", ".xml"):
            raise _native.UnsupportedError(
                f"cannot read '{model}': Core.read_model reads OpenVINO IR (.xml) and ONNX (.onnx) models"
            )
        if _is_path(weights):
            weights = os.fspath(weights)
        return super().read_model(os.fspath(model) if _is_path(model) else model, weights, _config(config),
                                  self._extensions().classes)

    def add_extension(self, extension: Any) -> None:
        """Registers custom ops for the models this Core reads: a ``ferrovino.Op`` subclass, an ``OpExtension``, an
        ONNX frontend ``ConversionExtension``/``OpExtension``, or a list of them. Native extension libraries
        (paths) are not supported."""
        self._extensions().add(extension)

    def _extensions(self) -> Extensions:
        """The extensions registered on this Core."""
        if "_custom_extensions" not in self.__dict__:
            self._custom_extensions = Extensions()
        return self._custom_extensions

    def compile_model(self, model: Any, device_name: Optional[str] = None, config: Optional[dict] = None, *,
                      weights: Optional[bytes] = None) -> CompiledModel:
        """Compiles a model (or reads then compiles a path, or XML bytes with ``weights``); no device means AUTO.
        With ``CACHE_DIR`` set, a path is looked up in the model cache before it is read; a cache file that cannot
        be used is reported with ``warnings.warn`` and the model compiled again."""
        reader = None
        if weights is not None or isinstance(model, (bytes, bytearray)):
            model = self.read_model(model, weights)
        elif _is_path(model):
            path = os.fspath(model)
            model, reader = path, functools.partial(self.read_model, path)
        elif _is_onnx(model):
            model = self.read_model(model)
        compiled, problems = super().compile_model(model, device_name, _config(config), reader,
                                                   self._extensions().classes)
        for problem in problems:
            warnings.warn(problem, RuntimeWarning, stacklevel=2)
        return CompiledModel(compiled)

    def import_model(self, model_stream: Any, device_name: str, config: Optional[dict] = None) -> CompiledModel:
        """Rebuilds a compiled model from what ``CompiledModel.export_model`` wrote: bytes, ``BytesIO`` or a binary
        file object."""
        if isinstance(model_stream, (bytearray, memoryview)):
            model_stream = bytes(model_stream)
        elif not isinstance(model_stream, bytes) and not hasattr(model_stream, "getvalue"):
            model_stream = model_stream.read()
        return CompiledModel(super().import_model(model_stream, device_name, _config(config), self._extensions().classes))

    def set_property(self, device_name_or_properties: Any, properties: Any = None) -> None:
        """``set_property(device, properties)`` or ``set_property(properties)`` for every device; ``properties`` is a
        ``{key: value}`` dict or one ``(key, value)`` pair such as ``props.enable_profiling(True)``."""
        if properties is None:
            super().set_property(to_config(device_name_or_properties))
        else:
            super().set_property(device_name_or_properties, to_config(properties))

    def get_property(self, device_name_or_property: str, property: Optional[str] = None) -> Any:  # noqa: A002
        """``get_property(device, key)``, or ``get_property(key)`` answered by the first device; enum-valued
        properties come back as ``ferrovino.properties`` enum members, element types as ``Type``."""
        key = device_name_or_property if property is None else property
        return from_value(str(key), super().get_property(device_name_or_property, property))

    def query_model(self, model: _native.Model, device_name: str, config: Optional[dict] = None) -> dict[str, str]:
        """Node friendly name → device that would run it."""
        return super().query_model(model, device_name, _config(config))

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
