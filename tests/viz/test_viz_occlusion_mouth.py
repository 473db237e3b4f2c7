"""Occlusion finds what carries the class: for happy vs neutral synthetic faces, the mouth."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ferablate.config import resolve_preset, validate_trial
from ferablate.data import synthetic_faces
from ferablate.models import create_model
from ferablate.viz import occlusion_maps
from ferablate.viz._network import face_batch

HAPPY, NEUTRAL = 3, 6


def test_occlusion_of_a_smile_peaks_in_the_lower_half_of_the_face() -> None:
    # Happy and neutral synthetic faces differ mostly by the mouth (corners up, open, wider);
    # brows barely move. A small CNN trained to tell them apart must look at the mouth.
    images, labels = synthetic_faces(2400, 1)
    keep = np.isin(labels, [HAPPY, NEUTRAL])
    images, labels = images[keep], labels[keep]
    train_x, train_y = face_batch(images[:-60]), torch.as_tensor(labels[:-60])
    test_faces, test_labels = images[-60:], labels[-60:]

    config = validate_trial(
        resolve_preset(
            {
                "model": {
                    "family": "sequential",
                    "convs": [{"channels": 8}, {"channels": 16}],
                    "dense": [16],
                }
            },
            "t",
        ),
        "t",
    )
    torch.manual_seed(0)
    model = create_model(config.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(face_batch(test_faces)).argmax(1).numpy() == test_labels).mean()
    assert accuracy > 0.7  # it learned the task, so its occlusion map means something

    smiles = test_faces[test_labels == HAPPY][:16]
    maps = occlusion_maps(model, smiles, [HAPPY] * len(smiles), window=8, stride=4)  # (N, 48, 48)
    assert maps.shape == (len(smiles), 48, 48)
    mean = np.clip(maps.mean(axis=0), 0.0, None)  # where hiding lowers p(happy)
    lower_share = mean[25:].sum() / mean.sum()  # faces are centred near row 25; the mouth near 34
    peak_row, _ = np.unravel_index(np.argmax(mean), mean.shape)
    assert lower_share > 0.7
    assert peak_row >= 28
