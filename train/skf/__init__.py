"""SKF (Wu et al., CVPR 2023, "Learning Semantic-Aware Knowledge Guidance for Low-Light Image
Enhancement"): a semantic-aware teacher and the real-time student distilled from it.

* :mod:`train.skf.modules` — the frozen ESPNetv2 prior (:class:`SemanticPrior`, the paper's
  "semantic knowledge bank"), the SE module (:class:`SEBlock`, eq. 4-5), the teacher network
  (:class:`TeacherNet`, an encoder-decoder with SE at three decoder scales) and the patch
  discriminators of the SA loss.
* :mod:`train.skf.losses` — SCH (eq. 6-10), SA (eq. 11-14), reconstruction and distillation losses.
* :mod:`train.skf.data` — synthetic pairs from well-exposed images (:mod:`train.degrade`), the
  held-aside split and the validation pairs.
* :mod:`train.skf.teacher`, :mod:`train.skf.student` — training entry points
  (``python -m train.skf.teacher``, ``python -m train.skf.student``; ``--help`` for the options).
* :mod:`train.skf.evaluate_method` — ``skf:PATH`` / ``skf-teacher:PATH`` methods for
  ``python -m train.evaluate``.

The shipped part (the student network, its curve bank and reference apply) lives in
:mod:`vidlle.models.skf`; nothing in ``vidlle`` imports this package.
"""
