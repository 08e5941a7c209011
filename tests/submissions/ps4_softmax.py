"""forward ends with a softmax: the check wants logits."""
ASSIGNMENT = "ps4"
CELLS = {"lenet5": '''
class LeNet5(nn.Module):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, kernel_size=5)
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Linear(16 * 5 * 5, 120)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, num_classes)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = self.s2(F.relu(self.c1(x)))
        x = self.s4(F.relu(self.c3(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.c5(self.drop(x)))
        x = F.relu(self.f6(self.drop(x)))
        return F.softmax(self.out(self.drop(x)), dim=1)
'''}
# Cross-entropy over probabilities trains slowly: after the notebook's 12 epochs the test
# accuracy lands near the 0.95 threshold, above it on some CPUs and below it on others.
EXPECT = {"test_lenet5": 0, "test_trained_model": (0, 3), "regularization_answer": 0}
MESSAGES = ["forward returns probabilities"]
