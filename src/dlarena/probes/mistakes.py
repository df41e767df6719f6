"""The mistakes, written as a user writes them: one module per framework (imported only inside
that framework's environment). Each case builds its tensors, announces its stages (trace, call,
sync) and runs a forward function whose faulty line carries the marker comment FAULT, so the
probe can tell whether a traceback's last user frame points at it.

Every case: input x of shape (2, 5) where the weight w is (8, 4) ('shape'); x float64 against a
float32 w ('dtype'); log(x - 10) on x in [0, 1), a NaN in the forward pass ('nan'), again with
the framework's NaN-checking mode on ('nan_check', None where the framework has none).
"""

import numpy as np

X = np.linspace(0.0, 0.9, 10, dtype=np.float32).reshape(2, 5)
W_SHAPE = np.ones((8, 4), np.float32)  # x (2, 5) @ w (8, 4): 5 != 8
W = np.ones((5, 4), np.float32)
