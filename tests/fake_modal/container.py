"""One container of the fake Modal: runs a function's body with the volume's working copy mounted at a local
folder (the module's VOLUME_PATH points there), and writes the outcome as a pickled GenericResult.

    python container.py MODULE FUNCTION VOLUME_FOLDER RESULT_FILE   (the call's pickled (args, kwargs) on stdin)
"""

import importlib
import pickle
import sys
import traceback
import warnings

from modal_proto import api_pb2


def main() -> int:
    module_name, function_name, volume, result_path = sys.argv[1:5]
    args, kwargs = pickle.loads(sys.stdin.buffer.read())
    module = importlib.import_module(module_name)
    module.VOLUME_PATH = volume  # where this container mounts the volume
    function = getattr(module, function_name)
    # .local() warns that it has no volume mounted; this container has it, at VOLUME_PATH
    warnings.filterwarnings("ignore", message="The .* function is executing locally")
    try:
        value = function.local(*args, **kwargs)  # the function's own body, in this process
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
