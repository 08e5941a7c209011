"""Early stopping that stops in time but keeps the last epoch's weights."""
ASSIGNMENT = "ps4"
CELLS = {"run": '''
def run(dropout=0.0, weight_decay=0.0, augment=False, patience=None, seed=0):
    torch.manual_seed(seed)
    net = LeNet5(dropout=dropout).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=weight_decay)
    small_loader.generator.manual_seed(seed)  # every configuration sees the same batches
    loader = Shifted(small_loader, seed) if augment else small_loader
    val_losses = []
    for epoch in range(EPOCHS):
        train_epoch(net, loader, optimizer, device)
        val_losses.append(loss_and_accuracy(net, x_val, y_val)[0])
        if patience is not None and early_stopping(val_losses, patience) < epoch + 1 - patience:
            break
    result = {"train_acc": loss_and_accuracy(net, x_small, y_small)[1],
              "val_acc": loss_and_accuracy(net, x_val, y_val)[1], "val_losses": val_losses}
    if patience is not None:
        result["patience"] = patience
        result["best_epoch"] = early_stopping(val_losses, patience)
    return result, net
'''}
EXPECT = {"test_experiment": 0, "regularization_answer": 0}
MESSAGES = ["Likely mistake: the weights of the last epoch were kept"]
