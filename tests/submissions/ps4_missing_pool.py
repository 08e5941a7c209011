"""LeNet-5 without the pooling layer S2: C3 gets C1's 28x28 maps and C5 the wrong size."""
ASSIGNMENT = "ps4"
CELLS = {"lenet5": '''
class LeNet5(nn.Module):
    def __init__(self, num_classes=10, dropout=0.0):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, kernel_size=5)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Linear(16 * 5 * 5, 120)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, num_classes)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = self.s4(F.relu(self.c3(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.c5(self.drop(x)))
        x = F.relu(self.f6(self.drop(x)))
        return self.out(self.drop(x))
'''}
# the network cannot run, so neither the trained model nor the experiment can be graded
EXPECT = {"test_lenet5": 0, "test_trained_model": 0, "test_experiment": 0,
          "regularization_answer": 0}
MESSAGES = ["the pooling layer S2 is missing", "mat1 and mat2 shapes cannot be multiplied"]
