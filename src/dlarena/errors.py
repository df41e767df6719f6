"""The one user-facing error type and its named kinds (stdlib only: workers import it too)."""


class DlarenaError(Exception):
    """A problem the user can fix; the message names the bad value and the fix."""


class SpecError(DlarenaError):
    """A workload spec that cannot be built."""


class FrameworkUnavailable(DlarenaError):
    """A framework that is not installed in the environment asked for."""


class Interrupted(DlarenaError):
    """Ctrl-C during a run: the message says what was kept and how to go on."""


class ImportRefused(DlarenaError):
    """A model file that dlarena cannot import: unreadable, dynamic, or with ops it lacks."""
