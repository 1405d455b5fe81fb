"""The parity gate's judgement: errors, decisions, tolerances by precision."""

import torch

from engine.export.parity import DETECTIONS, TOP1, compare, head_rule, max_error, parity_inputs
from engine.nn import build_model


def _classifier_outputs(images: torch.Tensor) -> torch.Tensor:
    # a fixed "model": class scores from channel means, softmaxed (clear decisions)
    logits = images.mean(dim=(2, 3)) * 40
    return logits.softmax(dim=1)


def _detections(images: torch.Tensor) -> torch.Tensor:
    """[N, 4 + 2 classes, 3 anchors]: two confident boxes of class 0 and 1, one weak one."""
    n = images.shape[0]
    boxes = torch.tensor([[100.0, 300.0, 500.0], [100.0, 300.0, 500.0],
                          [40.0, 60.0, 20.0], [40.0, 60.0, 20.0]])
    scores = torch.tensor([[0.9, 0.05, 0.1], [0.05, 0.8, 0.1]])
    return torch.cat((boxes, scores)).unsqueeze(0).repeat(n, 1, 1)


def test_error_is_absolute_for_small_values_and_relative_for_large_ones():
    expected = (torch.tensor([0.5, 600.0]),)
    assert abs(max_error(expected, (torch.tensor([0.5005, 600.0]),)) - 0.0005) < 1e-6
    # 0.3 px off at x = 600 is 5e-4 relative, within fp32's 1e-3
    assert abs(max_error(expected, (torch.tensor([0.5, 600.3]),)) - 0.0005) < 1e-6
    assert max_error(expected, (torch.tensor([0.5, float("nan")]),)) == float("inf")


def test_bf16_error_is_taken_against_each_channels_range():
    # channel 0 holds coordinates (0.6 to 600 px), channel 1 scores: bf16 moves the corner at
    # 0.6 by 0.3 px and the one at 600 by 2 px, both small against the 600 px the row spans
    expected = (torch.tensor([[[600.0, 0.6, 300.0], [0.9, 0.1, 0.5]]]),)
    shifted = (torch.tensor([[[602.0, 0.9, 300.0], [0.9, 0.1, 0.5]]]),)
    assert abs(max_error(expected, shifted, per_channel_range=True) - 2 / 600) < 1e-6
    assert abs(max_error(expected, shifted) - 0.3) < 1e-6  # the value's own scale
    # a score off by 0.05 stays 0.05: its channel spans less than 1
    wrong_score = (torch.tensor([[[600.0, 0.6, 300.0], [0.85, 0.1, 0.5]]]),)
    assert abs(max_error(expected, wrong_score, per_channel_range=True) - 0.05) < 1e-6


def test_an_identical_classifier_passes_and_a_wrong_one_fails_with_figures():
    inputs = parity_inputs(2, 3, (8, 8))
    same = compare(TOP1, _classifier_outputs, _classifier_outputs, inputs, num_classes=3)
    assert same.passed and same.max_error == 0 and same.agreement == 1.0
    assert same.summary().startswith("passed: error 0.0e+00 (<= 1e-03), top-1 equal")

    def reversed_classes(images):
        return _classifier_outputs(images).flip(1)

    wrong = compare(TOP1, _classifier_outputs, reversed_classes, inputs, num_classes=3)
    assert wrong.status == "failed" and wrong.max_error > 0.1
    assert "more than the fp32 tolerance 1e-03" in wrong.reason


def test_fp16_rounding_passes_at_its_tolerance_but_not_at_fp32s():
    inputs = parity_inputs(1, 3, (8, 8))

    def rounded(images):
        return _classifier_outputs(images).half().float()

    assert compare(TOP1, _classifier_outputs, rounded, inputs, num_classes=3,
                   precision="fp16").passed
    # fp16 keeps ~3 decimal digits: 1e-3 is too tight for probabilities near 1
    strict = compare(TOP1, _classifier_outputs, rounded, inputs, num_classes=3)
    assert strict.max_error > 0


def test_int8_is_judged_on_decisions_not_on_the_error():
    inputs = parity_inputs(1, 3, (8, 8))

    def coarse(images):
        probs = _classifier_outputs(images)
        return (probs * 8).round() / 8  # large error, same winner

    check = compare(TOP1, _classifier_outputs, coarse, inputs, num_classes=3,
                    precision="int8")
    assert check.passed and check.tolerance is None and check.max_error > 0.01


def test_detections_are_matched_after_nms():
    inputs = parity_inputs(1, 3, (8, 8))
    same = compare(DETECTIONS, _detections, _detections, inputs, num_classes=2)
    assert same.passed and same.decisions == "detections matched 4/4 (F1 1.00)"

    def moved(images, which=(1,)):
        out = _detections(images).clone()
        out[:, 0, list(which)] += 150  # boxes jump away: no overlap left
        return out

    half = compare(DETECTIONS, _detections, moved, inputs, num_classes=2, precision="int8")
    assert half.passed and half.agreement == 0.5  # int8 needs F1 >= 0.5, errors not gated
    both = compare(DETECTIONS, _detections, lambda x: moved(x, (0, 1)), inputs, num_classes=2,
                   precision="int8")
    assert both.status == "failed" and both.reason == "detection F1 0.00 is below 0.50"


def test_shape_mismatch_fails_before_any_comparison():
    inputs = parity_inputs(1, 3, (8, 8))
    check = compare(TOP1, _classifier_outputs, lambda x: _classifier_outputs(x)[:, :2],
                    inputs, num_classes=3)
    assert check.status == "failed"
    assert check.reason == "output 0 has shape (1, 2) in the export, (1, 3) in the model"


def test_inputs_are_fixed_noise_then_samples_in_batches():
    samples = [torch.full((3, 8, 8), 0.5)] * 3
    first = parity_inputs(2, 3, (8, 8), samples)
    again = parity_inputs(2, 3, (8, 8), samples)
    assert [t.shape for t in first] == [(2, 3, 8, 8)] * 3
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert torch.equal(first[1], torch.full((2, 3, 8, 8), 0.5))
    assert torch.equal(first[2][0], samples[0]) and not torch.equal(first[2][1], samples[0])


def test_a_classifier_whose_top1_differs_within_the_error_fails_on_its_agreement():
    inputs = parity_inputs(4, 3, (8, 8))

    def swapped(images):  # the two best classes swap places: a small error, another winner
        probs = _classifier_outputs(images)
        top2 = probs.topk(2, dim=1).indices
        out = probs.clone()
        rows = torch.arange(len(probs))
        out[rows, top2[:, 0]], out[rows, top2[:, 1]] = probs[rows, top2[:, 1]], probs[rows, top2[:, 0]]
        return out

    check = compare(TOP1, _classifier_outputs, swapped, inputs, num_classes=3, precision="int8")
    assert check.status == "failed" and check.reason.startswith("top-1 agreement 0.")


def test_an_export_made_without_a_rule_is_judged_by_its_heads():
    assert head_rule(build_model("yolov8n-cls.yaml", num_classes=3)) is TOP1
    assert head_rule(build_model("yolov8n-pose.yaml", num_classes=1)) is DETECTIONS
