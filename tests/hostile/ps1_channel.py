"""The kernel opens the executor's channel to the grader through /proc/<pid>/fd (both run
as the same user in the sandbox) and writes forged frames into it: outputs for cells that
never printed them, and a 3 GB length."""
ASSIGNMENT = "ps1"
ATTACK = "write forged frames into the executor's channel from the kernel"
CELLS = {"output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1

import os, struct
from course.grading.harness import wire
forged = wire.dumps({{"cell": {{"index": 0, "status": "ok", "execution_count": 1,
                              "outputs": [{{"output_type": "stream", "name": "stdout",
                                           "text": "FORGED" + "BY THE KERNEL"}}]}}}})
opened = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        fds = os.listdir(f"/proc/{{pid}}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            if not os.readlink(f"/proc/{{pid}}/fd/{{fd}}").startswith("pipe:"):
                continue
            out = os.open(f"/proc/{{pid}}/fd/{{fd}}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        opened += 1
        try:
            os.write(out, struct.pack(">Q", len(forged)) + forged)
            os.write(out, struct.pack(">Q", 3_000_000_000))
        except OSError:
            pass
        os.close(out)
print(f"opened {{opened}} channels")  # pipes of other processes, opened for writing
'''}
EXPECT = {}
MESSAGES = ["opened 0 channels"]
SIDE_EFFECTS = ["not_forged", "course_files_unchanged", "honest_scores_kept", "grader_memory_bounded"]
LIMITS = []
