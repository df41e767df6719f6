"""The mlp in plain Flax linen + Optax; 'compiled' is jax.jit of the whole step."""

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from dlarena.selfcheck.loop import LAYERS, load, read_task, time_blocks

task = read_task()
weights, data = load(task)


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(256, name="fc1")(x))
        x = nn.gelu(nn.Dense(256, name="fc2")(x), approximate=False)
        x = jnp.tanh(nn.Dense(128, name="fc3")(x))
        return nn.Dense(10, name="logits")(x)


model = MLP()
params = {n: {"kernel": weights[f"{n}.kernel"], "bias": weights[f"{n}.bias"]} for n in LAYERS}
params = jax.device_put(params)
tx = optax.sgd(0.01, momentum=0.9)
opt_state = tx.init(params)
batches = [jax.device_put(batch) for batch in data]


def loss_fn(params, x, y):
    logits = model.apply({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def update(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


if task.tier == "compiled":
    update = jax.jit(update)


def step(batch):
    global params, opt_state
    params, opt_state, loss = update(params, opt_state, *batch)
    return params, opt_state, loss


time_blocks(step, jax.block_until_ready, batches, task)
