"""One epoch of plain SGD with a tiny learning rate: far below the required accuracy."""
ASSIGNMENT = "ps4"
CELLS = {"train_model": '''
torch.manual_seed(0)
model = LeNet5().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
loss = train_epoch(model, train_loader, optimizer, device)
print(f"loss {loss:.4f}, test accuracy {evaluate(model, test_loader, device):.4f}")
'''}
EXPECT = {"test_trained_model": 0, "regularization_answer": 0}
MESSAGES = ["at least 0.95 is required"]
