"""The increasing complexity chapter's exercise checks pass right answers and fail wrong ones, with a hint."""


import numpy as np

from companion import increasing_complexity as ic


def test_information_checks(capsys):

    assert ic.check_mutual_information(ic.mutual_information)
    assert not ic.check_mutual_information(lambda a, b: ic.mutual_information(a, b) * np.log(2))
    assert "nats" in capsys.readouterr().out
    assert ic.check_mu(ic.mu)
    assert not ic.check_mu(ic.conditional_mutual_information)
    assert "I(F;Y|L) alone" in capsys.readouterr().out
    assert ic.check_negative_mu("b")
    assert "mu = -1.000" in capsys.readouterr().out
    assert not ic.check_negative_mu("c")
