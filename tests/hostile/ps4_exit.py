"""Ends the judged process from inside train_epoch after training correctly in the kernel:
only that task may lose its points."""
ASSIGNMENT = "ps4"
ATTACK = "kill the judged process during one task"
CELLS = {"train_epoch": '''
import os

def train_epoch(model, loader, optimizer, device):
    if os.environ.get("COURSE_SANDBOX") and not hasattr(model, "c1"):
        os._exit(7)  # the judge's small network, not the notebook's LeNet5
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count
'''}
EXPECT = {"test_train_epoch": 0, "regularization_answer": 0}
MESSAGES = ["Your function ended the judged process (exit code 7)", "LeNet5: all hidden checks passed"]
SIDE_EFFECTS = []
LIMITS = []
