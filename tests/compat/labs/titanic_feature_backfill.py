"""Titanic lab, part 1: backfill the feature group from the passenger list.

A Hopsworks lab written as plain notebook cells: read the passenger list, clean
it lightly, store it as a feature group and document its features.
"""

# %% Cell 1: imports and login
import pandas as pd

import fti as hopsworks

project = hopsworks.login()
fs = project.get_feature_store()

# %% Cell 2: read the passenger list (the lab's data file sits next to the notebook)
df = pd.read_csv("titanic.csv")
print(df.shape)
print(df.head())

# %% Cell 3: light cleaning in pandas
# Some copies of the data set carry free-text columns we do not want as features.
df = df.drop(columns=["Name", "Ticket", "Cabin", "name", "ticket", "cabin"], errors="ignore")
# This copy has no passenger id, so number the passengers: it becomes the primary key.
df.insert(0, "PassengerId", range(1, len(df) + 1))
# Fill missing ages with the median age of the passenger's class.
df["age"] = df["age"].fillna(df.groupby("pclass")["age"].transform("median"))
print(df.isna().sum())

# %% Cell 4: create the feature group (Hopsworks lower-cases feature names)
titanic_fg = fs.get_or_create_feature_group(
    name="titanic",
    version=1,
    primary_key=["PassengerId"],
    description="Titanic passengers: class, sex, age, family aboard, and whether they survived",
)

# %% Cell 5: insert the data and wait for it to land
titanic_fg.insert(df, write_options={"wait_for_job": True})

# %% Cell 6: describe the features for the next person who uses them
feature_descriptions = {
    "pclass": "Ticket class: 1 = first, 2 = second, 3 = third",
    "sex": "Sex of the passenger: male or female",
    "age": "Age in years; missing ages filled with the median of the passenger's class",
    "sibsp": "Number of siblings and spouses aboard",
    "parch": "Number of parents and children aboard",
    "survived": "1 if the passenger survived, else 0 (the label)",
}
for name, description in feature_descriptions.items():
    titanic_fg.update_feature_description(name, description)

# %% Cell 7: compute descriptive statistics on the data
titanic_fg.statistics_config = {"enabled": True, "histograms": True, "correlations": True}
titanic_fg.update_statistics_config()

# %% Cell 8: look at what we stored
stored = titanic_fg.read()
print(stored.head())
assert len(stored) == len(df), f"expected {len(df)} passengers, read {len(stored)}"
assert "passengerid" in stored.columns, f"feature names are lower-cased: {list(stored.columns)}"
for feature in titanic_fg.features:
    print(f"{feature.name:12} {feature.type:10} {feature.description}")
