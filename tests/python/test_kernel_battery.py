"""The standard kernel battery of jupyter_kernel_test (PyPI `jupyter-kernel-test`,
pinned in requirements.txt) run against the gorepro kernel, with Go samples.

What is left out or adapted, and why:

- code_page_something (pager payloads): GoNB has no pager; skipped.
- code_clear_output: GoNB cells have no clear_output call in our display API; skipped.
- code_execute_result / test_execute_result: GoNB v0.11.5 publishes every display as
  display_data (its execute_result branch is commented out), so Go cells have no
  execute_result; a plugin cell whose reply carries a result does (the proxy publishes
  it as execute_result with the cell's count). The samples are cells of the sample
  external plugin `%%echo --result`, whose body is the cell's value.
- code_generate_error: the battery wants exactly one output message, an `error`.
  Go errors in GoNB also print (a panic's stack on stderr, "exit status N", a
  compile error's HTML view), so the sample is a plugin cell for a plugin that
  does not exist, whose only output is the error (Go errors are covered in
  test_kernel.py).
- Timeouts: the battery waits 15 s for a reply, 1 s for the busy status and
  0.1 s between iopub messages, and forever for completion/is_complete replies.
  CI runs on 2 cores, a fresh kernel's first cell compiles and gopls's first
  completion takes ~15 s, so execute_helper is the battery's own with longer
  waits (same checks), and reply waits are bounded at REQUEST_TIMEOUT.

Needs the gorepro kernelspec and jupyter_kernel_test (`make setup`): skipped
without them, unless GOREPRO_E2E=1 or GOREPRO_REQUIRE_ALL=1, where they are a
failure.
"""

import os
import unittest

from conftest import KERNELSPEC_MISSING, REQUIRE_ALL, skip_missing
from kernel_helpers import (
    CELL_TIMEOUT,
    E2E,
    KERNEL_JSON,
    REQUEST_TIMEOUT,
    kernel_environ,
    start_kernel,
)

try:
    import jupyter_kernel_test
    from jupyter_kernel_test.msgspec_v5 import validate_message
except ImportError:  # a venv from before it was pinned: `make setup` installs requirements.txt
    if E2E:
        raise
    skip_missing("jupyter_kernel_test is not installed (requirements.txt; `make setup`)", allow_module_level=True)

# The battery's module-level wait (read when test_inspect runs).
jupyter_kernel_test.TIMEOUT = REQUEST_TIMEOUT

MISSING = not KERNEL_JSON.exists()


@unittest.skipIf(MISSING and not E2E and not REQUIRE_ALL, KERNELSPEC_MISSING)
class GoreproKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "gorepro"
    language_name = "go"
    file_extension = ".go"

    code_hello_world = 'import "fmt"\n\nfunc main() { fmt.Println("hello, world") }'
    code_stderr = 'import (\n\t"fmt"\n\t"os"\n)\n\nfunc main() { fmt.Fprintln(os.Stderr, "to stderr") }'

    completion_samples = [
        {"text": 'import "fmt"\n\nfunc main() { fmt.Pri', "matches": {"Print", "Printf", "Println"}},
    ]

    complete_code_samples = [
        "func main() {}",
        'import "fmt"\n\nfunc main() {\n\tfmt.Println("x")\n}',
        "var x = 1",
        "%%help",
        "",
    ]
    incomplete_code_samples = [
        "func main() {",
        'import (\n\t"fmt"',
        "%%\nfor i := 0; i < 3; i++ {",
    ]
    invalid_code_samples = [
        "func main() { ) }",
        '%%plot "unterminated',
    ]

    code_generate_error = "%%nosuchplugin"

    code_display_data = [
        {
            "code": 'import "github.com/gorepro/gorepro/lib/notebook"\n\nfunc main() { notebook.Markdown("**x**") }',
            "mime": "text/markdown",
        },
        {
            "code": 'import "github.com/gorepro/gorepro/lib/notebook"\n\nfunc main() { notebook.HTML("<b>x</b>", "x") }',
            "mime": "text/html",
        },
    ]

    # The sample external plugin's --result makes the body the cell's value (execute_result).
    code_execute_result = [
        {"code": "%%echo --result\nhistory-probe-one", "result": "history-probe-one"},
        {"code": "%%echo --result\n42", "result": "42"},
    ]
    code_history_pattern = "*history-probe-one*"
    supported_history_operations = ("tail", "range", "search")

    # Cursor at the end, inside the identifier: gopls hovers over fmt.Println.
    code_inspect_sample = 'import "fmt"\n\nfunc main() { fmt.Println'

    @classmethod
    def setUpClass(cls):
        if MISSING:
            if E2E:
                raise AssertionError(f"GOREPRO_E2E=1 but the gorepro kernelspec is missing: {KERNEL_JSON} (run `make setup`)")
            raise AssertionError(f"{KERNELSPEC_MISSING} [GOREPRO_REQUIRE_ALL=1: a missing prerequisite fails]")
        cls._saved_env = {k: os.environ.get(k) for k in kernel_environ()}
        os.environ.update(kernel_environ())
        try:
            cls._kernel = start_kernel()
        except Exception:
            cls._restore_env()
            raise
        cls.km, cls.kc = cls._kernel.km, cls._kernel.kc

    @classmethod
    def tearDownClass(cls):
        try:
            cls._kernel.shutdown()  # graceful, then ends any GoNB/gopls left
        finally:
            cls._restore_env()

    @classmethod
    def _restore_env(cls):
        for k, v in cls._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    # -- the battery's helpers with waits for a 2-core machine (same checks)

    def get_non_kernel_info_reply(self, timeout=None):
        return super().get_non_kernel_info_reply(timeout=REQUEST_TIMEOUT if timeout is None else timeout)

    def execute_helper(self, code, timeout=CELL_TIMEOUT, silent=False, store_history=True, stop_on_error=True):
        msg_id = self.kc.execute(code=code, silent=silent, store_history=store_history, stop_on_error=stop_on_error)
        reply = self.get_non_kernel_info_reply(timeout=max(timeout, CELL_TIMEOUT))
        assert reply is not None
        validate_message(reply, "execute_reply", msg_id)

        busy_msg = self.kc.iopub_channel.get_msg(timeout=10)
        validate_message(busy_msg, "status", msg_id)
        self.assertEqual(busy_msg["content"]["execution_state"], "busy")

        output_msgs = []
        while True:
            msg = self.kc.iopub_channel.get_msg(timeout=10)
            validate_message(msg, msg["msg_type"], msg_id)
            if msg["msg_type"] == "status":
                self.assertEqual(msg["content"]["execution_state"], "idle")
                break
            if msg["msg_type"] == "execute_input":
                self.assertEqual(msg["content"]["code"], code)
                continue
            output_msgs.append(msg)
        return reply, output_msgs
