"""forward returns probabilities when the model evaluates (a softmax "for predictions"):
the check wants logits. Training, in train mode, sees the logits, so the trained model
is the instructor's. (With the softmax in training too, the trained model ends near the
0.95 bar, above it on some CPUs and below it on others; test_grading_ps4 checks that
model's diagnosis.)"""
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
        scores = self.out(self.drop(x))
        return scores if self.training else F.softmax(scores, dim=1)
'''}
EXPECT = {"test_lenet5": 0, "regularization_answer": 0}
MESSAGES = ["forward returns probabilities"]
