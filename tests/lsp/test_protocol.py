"""lsp/protocol.py is the one place the server's own names live, and its shapes are the ones
the server sends. (The extension's side: vscode-extension/test/integration/lspContract.ts.)"""

import re
from pathlib import Path

from lsprotocol import types

from lsp import protocol
from lsp.completion import CompletionStats

LSP = Path(protocol.__file__).parent


def test_no_module_spells_a_custom_name_itself():
    names = re.compile(r"""["']ossSidecar[/.]\w+["']""")
    for path in LSP.glob("*.py"):
        if path.name != "protocol.py":
            assert not names.findall(path.read_text(encoding="utf-8")), path.name


def test_stats_result_is_what_the_server_reports():
    fields = protocol.describe()["types"]["StatsResult"]
    assert set(CompletionStats().as_dict()) == {k for k, required in fields.items() if required}
    assert set(CompletionStats().as_dict(with_replies=True)) == set(fields)


def test_status_opt_in_is_read_from_the_experimental_capability():
    def caps(experimental):
        return types.ClientCapabilities(experimental=experimental)

    assert protocol.wants_status(caps({"ossSidecar": {"statusNotification": True}}))
    assert not protocol.wants_status(caps({"ossSidecar": {}}))
    assert not protocol.wants_status(caps(None))
