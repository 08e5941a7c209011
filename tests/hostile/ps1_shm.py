"""Writes up to 1 GiB into /dev/shm, which the sandbox's disk limit did not cover (it
lives in memory), then into /tmp and the working folder."""
ASSIGNMENT = "ps1"
ATTACK = "write past the disk limit through /dev/shm"
CELLS = {"output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1

total = 0
for folder in ("/dev/shm", "/tmp", "."):
    try:
        with open(f"{{folder}}/fill-{{total}}.bin", "wb") as f:
            for _ in range(1024):
                f.write(b"s" * (1 << 20))
                total += 1
    except OSError:
        pass
print(f"wrote {{total}} MiB in all")
'''}
EXPECT = {}
MESSAGES = ["MiB in all"]
SIDE_EFFECTS = ["disk_bounded", "no_large_files", "honest_scores_kept"]
LIMITS = []
