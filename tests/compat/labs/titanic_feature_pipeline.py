"""Titanic lab, part 2: a daily feature pipeline that adds one synthetic passenger.

Run once a day: it invents a plausible passenger and appends it to the feature group.
"""

# %% Cell 1: imports and login
import random

import pandas as pd

import fti as hopsworks

project = hopsworks.login()
fs = project.get_feature_store()

# %% Cell 2: the feature group written by the backfill lab
titanic_fg = fs.get_feature_group(name="titanic", version=1)
existing = titanic_fg.read()
print(f"{len(existing)} passengers so far")


# %% Cell 3: invent a passenger
def generate_passenger(passenger_id: int, rng: random.Random) -> pd.DataFrame:
    """One synthetic passenger; survival odds follow sex and class as on the real ship."""
    pclass = rng.choice([1, 2, 3])
    sex = rng.choice(["male", "female"])
    age = round(rng.uniform(1, 70), 1)
    survival_odds = {"female": 0.75, "male": 0.2}[sex] + {1: 0.15, 2: 0.0, 3: -0.1}[pclass]
    return pd.DataFrame({
        "passengerid": [passenger_id],
        "pclass": [pclass],
        "sex": [sex],
        "age": [age],
        "sibsp": [rng.choice([0, 0, 0, 1, 2])],
        "parch": [rng.choice([0, 0, 0, 1, 2])],
        "survived": [int(rng.random() < survival_odds)],
    })


rng = random.Random(2024)
new_id = int(existing["passengerid"].max()) + 1
passenger = generate_passenger(new_id, rng)
print(passenger)

# %% Cell 4: insert it and wait until it can be read
titanic_fg.insert(passenger, wait=True)

# %% Cell 5: check the new passenger is in the feature group
after = titanic_fg.read()
row = after[after["passengerid"] == new_id]
print(row)
assert len(after) == len(existing) + 1, f"expected {len(existing) + 1} passengers, read {len(after)}"
assert len(row) == 1, f"passenger {new_id} is not in the feature group"
assert row.iloc[0]["sex"] == passenger.iloc[0]["sex"]
assert row.iloc[0]["age"] == passenger.iloc[0]["age"]
print(f"NEW_PASSENGER {new_id} {passenger.iloc[0]['sex']} {passenger.iloc[0]['age']}")
