"""Fixed vocabularies for the synthetic network: clinics, names, medications.

All names and phone numbers are fictional (phones use the reserved 555-01xx range).
"""

from __future__ import annotations

# code, city, region, postal code, IANA zone, chairs
CLINICS: list[tuple[str, str, str, str, str, int]] = [
    ("aus", "Austin", "TX", "78701", "America/Chicago", 8),
    ("den", "Denver", "CO", "80202", "America/Denver", 6),
    ("phx", "Phoenix", "AZ", "85004", "America/Phoenix", 6),
    ("sd", "San Diego", "CA", "92101", "America/Los_Angeles", 7),
    ("pdx", "Portland", "OR", "97204", "America/Los_Angeles", 5),
    ("chi", "Chicago", "IL", "60601", "America/Chicago", 8),
    ("atl", "Atlanta", "GA", "30303", "America/New_York", 6),
    ("bos", "Boston", "MA", "02108", "America/New_York", 6),
    ("msp", "Minneapolis", "MN", "55401", "America/Chicago", 4),
]

STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Lake St", "Hill Rd", "River Way"]

FEMALE_NAMES = (
    "Olivia Emma Ava Sophia Isabella Mia Amelia Harper Evelyn Abigail Emily Elizabeth Sofia Avery Ella "
    "Scarlett Grace Chloe Victoria Riley Aria Lily Aubrey Zoey Penelope Layla Nora Hannah Hazel Ellie "
    "Maria Rosa Aisha Mei Priya Fatima Keiko Leah Nadia Dana"
).split()
MALE_NAMES = (
    "Liam Noah William James Oliver Benjamin Elijah Lucas Mason Logan Alexander Ethan Jacob Michael "
    "Daniel Henry Jackson Sebastian Aiden Matthew Samuel David Joseph Carter Owen Wyatt John Jack Luke "
    "Jayden Carlos Diego Wei Raj Omar Kenji Ivan Andre Marcus Tomas"
).split()
FAMILY_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Chen Patel Kim Singh Okafor Cohen Novak "
    "Reyes Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey Bell Gomez Kelly Howard Ward Cox Diaz "
    "Richardson Wood Watson Brooks Bennett Gray James Hughes Price Sanders Myers Long Ross Foster"
).split()

ESCORT_RELATIONSHIPS = ["spouse", "partner", "parent", "adult child", "sibling", "friend"]
TRANSPORT = ["rideshare booked by clinic", "medical transport (pre-booked)"]

# Indications: (ICD-10-CM code, description, share, is chronic pain). Pain patients
# follow the one chronic-pain protocol the clinical rules carry (CRPS, Cohen 2018).
INDICATIONS: list[tuple[str, str, float, bool]] = [
    ("F33.2", "Major depressive disorder, recurrent, severe, treatment-resistant", 0.66, False),
    ("F32.2", "Major depressive disorder, single episode, severe, treatment-resistant", 0.12, False),
    ("F31.4", "Bipolar disorder, current episode depressed, severe", 0.10, False),
    ("F43.10", "Post-traumatic stress disorder with depression", 0.08, False),
    ("G90.50", "Complex regional pain syndrome I", 0.04, True),
]

# Medications as a patient might write them, with the normalised generic name and the
# share of patients taking something of that kind. Benzodiazepines are deliberately
# common (about one in five), as in TRD cohorts (Frye MA et al., J Clin Psychiatry 2015).
MEDICATIONS: list[tuple[list[str], str, float]] = [
    (["sertraline 100 mg", "Zoloft 50mg"], "sertraline", 0.16),
    (["escitalopram 20 mg", "Lexapro 10mg daily"], "escitalopram", 0.14),
    (["bupropion XL 300", "Wellbutrin XL"], "bupropion", 0.18),
    (["venlafaxine 150 mg", "Effexor XR 225"], "venlafaxine", 0.09),
    (["duloxetine 60mg", "Cymbalta"], "duloxetine", 0.09),
    (["Klonopin 1mg", "clonazepam 0.5 mg bid"], "clonazepam", 0.08),
    (["Xanax XR", "alprazolam 0.5 mg prn"], "alprazolam", 0.07),
    (["lorazepam prn", "Ativan 1 mg"], "lorazepam", 0.05),
    (["lamotrigine 200 mg", "Lamictal"], "lamotrigine", 0.06),
    (["lithium 600 mg"], "lithium", 0.04),
    (["quetiapine 50 mg at night", "Seroquel"], "quetiapine", 0.08),
    (["trazodone 50 mg", "trazodone for sleep"], "trazodone", 0.12),
    (["Adderall 20 mg", "amphetamine salts"], "amphetamine", 0.04),
    (["gabapentin 300 mg tid"], "gabapentin", 0.07),
    (["naltrexone 50 mg"], "naltrexone", 0.01),
    (["lisinopril 10 mg"], "lisinopril", 0.10),
    (["levothyroxine 50 mcg"], "levothyroxine", 0.07),
]

ALLERGIES: list[tuple[str, str, float]] = [
    ("penicillin", "rash", 0.08),
    ("sulfonamides", "hives", 0.03),
    ("latex", "contact dermatitis", 0.02),
    ("codeine", "nausea and vomiting", 0.03),
]

STAFF_PLAN = [("director", 1), ("psychiatrist", 2), ("nurse", 4), ("front_desk", 2)]
DEMO_PASSWORD = "ketaflow-demo"
