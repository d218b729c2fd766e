"""The EMS BinPack environment, with the dynamics of Jumanji's BinPack-v2."""
from purepi.env.csv_generator import CSV_COLUMNS, save_instance_to_csv
from purepi.env.env import BinPack
from purepi.env.generator import (
    TWENTY_FOOT_DIMS, CSVGenerator, Generator, ItemListGenerator, RandomBoxGenerator, RandomGenerator,
    ToyGenerator, make_container)
from purepi.env.load_generator import RandomLoadGenerator
from purepi.env.orientations import ORIENTATIONS, ROTATIONS, orient_items, orientations
from purepi.env.reward import DenseReward, RewardFn, SparseReward, volume_utilization
from purepi.env.space import Space
from purepi.env.timestep import StepType, TimeStep
from purepi.env.types import (
    EMS, Container, Item, Location, Observation, State, empty_ems, item_fits_in_item, item_from_space,
    item_volume, location_from_space, space_from_item_and_location)
