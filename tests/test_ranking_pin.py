"""DD-Ranking's formulas pinned (issue 28, item 5). The `ddranking` 0.2.0 package crashes as shipped, so its numbers
cannot be produced here; on the same accuracies as fractions its formulas give these values (worked by hand from its
definitions: LRS = norm(w IOR - (1 - w) HLR), ARS = norm(gamma (syn - rdm)_aug + (1 - gamma) (syn - rdm)_no-aug),
norm(x) = (e^x - e^-1) / (e - e^-1))."""
import math

import pytest

from dd_nb.ranking import augmentation_robust_score, hard_label_recovery, improvement_over_random, label_robust_score


@pytest.mark.parametrize("real, syn, rdm, lrs", [(0.98, 0.90, 0.85, 0.2626), (0.98, 0.95, 0.70, 0.3184)])
def test_lrs_matches_dd_ranking(real, syn, rdm, lrs):
    hlr, ior = hard_label_recovery(real, syn), improvement_over_random(syn, rdm)
    assert math.isclose(hlr, real - syn) and math.isclose(ior, syn - rdm)
    assert round(float(label_robust_score(hlr, ior, 0.5)), 4) == lrs


def test_ars_matches_dd_ranking():
    assert round(float(augmentation_robust_score(0.90, 0.85, 0.80, 0.70, 0.5)), 4) == 0.3021


def test_percent_values_are_refused():
    "ddranking reports percents that leave [0, 1]; ours takes fractions and names a percent it is given."
    with pytest.raises(ValueError, match="98"):
        hard_label_recovery(98, 90)
