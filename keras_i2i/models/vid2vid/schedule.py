"""vid2vid's training schedule as callbacks (the reference's `update_models` after each epoch):
clips that grow longer (`--n_frames_total`, `--niter_step`, `--max_frames_per_gpu`), the
coarse spatial scales fixed for the first epochs (`--niter_fix_global`), and pix2pixHD's
linear decay of the learning rates (`EpochLinearDecay`, `--niter`, `--niter_decay`).

Progressive training as the reference's scripts: train a model with one spatial scale (e.g.
`cityscapes_512`), build the next (`cityscapes_1024`), load the trained one into it
(`Vid2Vid.load_coarse_model`, the reference's `--load_pretrain`) and train it, its coarser
scales fixed for `niter_fix_global` epochs. `Vid2Vid.training_callbacks()` returns the
callbacks configured from the model.
"""

import keras

from keras_i2i.models.pix2pixhd.schedule import FixCoarseLevels


class GrowingClips(keras.callbacks.Callback):
    """Doubles the frames a training step generates, and those per optimizer step, every
    `niter_step` epochs (the reference's `update_training_batch`): at the start of epoch k
    (from 0) the model's `clip_stage` becomes `k // niter_step` (see `Vid2Vid.clip_plan`).

    A step's frames are a static part of its graph, so the training function is retraced
    when the stage changes. A resumed run continues the schedule, the epoch being known. The
    clips the data gives must be long enough for the later stages (`clip_plan` uses what a
    clip has).

    Args:
        niter_step: epochs per stage.
    """

    def __init__(self, niter_step):
        super().__init__()
        if niter_step < 1:
            raise ValueError(f"niter_step must be >= 1, got {niter_step}")
        self.niter_step = niter_step
        self._traced = False

    def set_model(self, model):
        super().set_model(model)
        # `fit` reuses a training function traced before: the first trace of this run must
        # see the stage this callback sets.
        model.train_function = None
        self._traced = False

    def on_train_batch_end(self, batch, logs=None):
        self._traced = True

    def on_epoch_begin(self, epoch, logs=None):
        stage = epoch // self.niter_step
        if stage != self.model.clip_stage:
            self.model.clip_stage = stage
            if self._traced:
                self.model.make_train_function(force=True)


class FixCoarseScales(FixCoarseLevels):
    """For the first `epochs` epochs, trains only the finest spatial scale of the generator
    (and the discriminators); afterwards every scale, with a fresh generator optimizer (the
    reference's `--niter_fix_global` and `update_fixed_params`). pix2pixHD's
    `FixCoarseLevels` on the generator's coarser scales (G0 .. G(n_scales_spatial - 2)).

    The fixed scales still normalize with their batch statistics, as the reference's do.

    Args:
        epochs: the number of epochs with the coarse scales fixed.
    """

    def _coarse_levels(self):
        levels = self.model.generator.levels
        if len(levels) < 2:
            raise ValueError("FixCoarseScales needs coarser scales (n_scales_spatial >= 2).")
        return levels[:-1]
