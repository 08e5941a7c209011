"""No zero_grad, hidden behind rebound comparisons and a replaced checker."""
ASSIGNMENT = "ps4"
CELLS = {"train_epoch": '''
import numpy as np
from course.grading import ps4

np.allclose = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
ps4.check_train_epoch = lambda *args, **kwargs: None

def train_epoch(model, loader, optimizer, device):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count
'''}
EXPECT = {"test_train_epoch": 0, "test_trained_model": 0, "regularization_answer": 0}
MESSAGES = ["optimizer.zero_grad() is missing"]
