"""One container of the fake Modal: runs a function's body with wacft imported from the code the client
uploaded (nothing of the checkout), the volume's working copy mounted at a local folder (the module's
VOLUME_PATH points there) and, this machine having no GPU, the CPU named as the job's GPU (GPU_DEVICE) unless
the test leaves it out; it writes the outcome as a pickled GenericResult.

    python container.py MODULE FUNCTION VOLUME_FOLDER RESULT_FILE CODE_FOLDER GPU_DEVICE
        (the call's pickled (args, kwargs) on stdin)
"""

import importlib
import pickle
import sys
import traceback
import warnings
from pathlib import Path

from modal_proto import api_pb2


def only_the_uploaded_code(code: str) -> None:
    """This venv stands in for the image, but its wacft is the checkout's (an editable install): drop that, so
    that `wacft` is what the client uploaded, as in a real container."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
    sys.path_importer_cache.clear()
    sys.path.insert(0, code)


def main() -> int:
    module_name, function_name, volume, result_path, code, gpu_device = sys.argv[1:7]
    args, kwargs = pickle.loads(sys.stdin.buffer.read())
    only_the_uploaded_code(code)
    # .local() warns that it has no volume mounted; this container has it, at VOLUME_PATH
    warnings.filterwarnings("ignore", message="The .* function is executing locally")
    try:  # an import that fails is the function's failure, as on Modal: it counts against the retries
        module = importlib.import_module(module_name)
        wacft = sys.modules["wacft"]
        if not Path(wacft.__file__).is_relative_to(code):
            raise ImportError(f"wacft was imported from {wacft.__file__}, not from the uploaded code in {code}")
        module.VOLUME_PATH = volume  # where this container mounts the volume
        if gpu_device:
            module.GPU_DEVICE = gpu_device
        value = getattr(module, function_name).local(*args, **kwargs)  # the function's own body, here
        result = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS, data=pickle.dumps(value))
    except Exception as e:
        traceback.print_exc()
        result = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_FAILURE, exception=repr(e),
                                       traceback=traceback.format_exc())
    with open(result_path, "wb") as f:
        pickle.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
