# ruff: noqa: F821  (YADE defines O, Vector3, the engines and its utils as builtins)
"""simrnn's YADE template: one drained triaxial compression test per row of a yade-batch table.

Run by simrnn's YADE driver (``simrnn.sequence.calibration.yade_driver.YadeBatch``), which calls
``yade-batch [-j JOBS] --log @.log samples.txt triax_template.py`` in a fresh batch folder; by hand:
``yade triax_template.py`` runs the defaults below once and writes ``triax_test.npy``.

Parameters (table columns; a column the table lacks keeps the default here):
    E      log10 of the contact Young's modulus [Pa]
    v      contact stiffness ratio ks/kn (YADE's ``poisson``)
    kr     rolling stiffness (``alphaKr``, also used for twisting)
    eta    rolling plastic limit (``etaRoll``, also used for twisting)
    mu     sliding friction angle [degrees]
    mu_pack  the friction angle while the packing is compressed isotropically [degrees]: lower
           gives a denser sample (GrainLearning's tutorial instead loads a prepared packing)
    conf   confining pressure [Pa]
    num    number of spheres
    max_strain, strain_step   the axial strain reached and the step between two recorded states
    seed   the random packing's seed

Test: a loose random cloud of ``num`` spheres in a periodic cell is compressed isotropically to
``conf`` with the friction angle ``mu_pack``; that state is the reference (zero strain) and the
friction angle becomes ``mu``. Then the axial strain e_z grows by
``strain_step`` up to ``max_strain`` while the lateral stresses stay at ``conf`` (drained); after
each step, once the packing is quasi-static again (unbalanced force below ``UNBALANCED``), the
state is recorded.

Output: ``<description>.npy`` in the working directory (the batch folder), written through a
temporary file and a rename, holding the pickled pair ``(params, features)`` that simrnn reads
(``simrnn sequence from-yade`` converts a folder of them into training data):
    params    E, v, kr, eta, mu as in the table, conf as log10 [Pa], mode 'drained', num
    features  per recorded state: e_x, e_y, e_z (strains, compression positive, e_z starts at 0),
              e (void ratio), p, q (mean and deviatoric stress [Pa], compression positive),
              f0 (mean normal contact force [N]), a_c, a_n, a_t (fabric, normal-force and
              tangential-force anisotropies, defined so that q/p = 2/5 (a_c + a_n + 3/2 a_t) for equal
              branch lengths), dt, numIter
A sample that crashes or never becomes quasi-static writes nothing (the driver's timeout stops it);
simrnn then records it as failed.

The numbers below are a starting point, not a converged DEM study: check that the curves no
longer change when you lower ``RATE`` and ``UNBALANCED`` or raise ``num``.
"""

import math
import os

import numpy as np
from yade import pack

readParamsFromTable(
    E=8.0, v=0.3, kr=0.5, eta=0.3, mu=30.0, mu_pack=10.0, conf=2e5, num=1000, max_strain=0.1, strain_step=0.001,
    seed=1, key=0, unknownOk=True,
)
from yade.params import table  # noqa: E402  (filled by readParamsFromTable)

NAME = O.tags["description"] if runningInBatch() else "triax_test"
DENSITY = 2650 * 1e3      # grain density [kg/m3], scaled up 1000x for a larger stable time step (quasi-static)
CELL = 0.05               # edge of the initial periodic cell [m]
LOOSE_POROSITY = 0.75     # of the initial cloud
RATE = 0.5                # maximal strain rate of the cell [1/s]
DAMPING = 0.2             # Newton's numerical damping
UNBALANCED = 1e-3         # quasi-static when the unbalanced force ratio is below this
STRESS_TOL = 1e-3         # relative tolerance on the stress goals

O.periodic = True
O.cell.hSize = Matrix3(CELL, 0, 0, 0, CELL, 0, 0, 0, CELL)
grains = O.materials.append(CohFrictMat(
    young=10 ** table.E, poisson=table.v, frictionAngle=math.radians(table.mu_pack), density=DENSITY,
    isCohesive=False, momentRotationLaw=True, alphaKr=table.kr, alphaKtw=table.kr,
    etaRoll=table.eta, etaTwist=table.eta,
))
cloud = pack.SpherePack()
cloud.makeCloud(Vector3.Zero, O.cell.refSize, rMean=-1, rRelFuzz=0.3, num=int(table.num), periodic=True,
                porosity=LOOSE_POROSITY, seed=int(table.seed))
cloud.toSimulation(material=grains)

O.engines = [
    ForceResetter(),
    InsertionSortCollider([Bo1_Sphere_Aabb()]),
    InteractionLoop(
        [Ig2_Sphere_Sphere_ScGeom6D()],
        [Ip2_CohFrictMat_CohFrictMat_CohFrictPhys()],
        [Law2_ScGeom6D_CohFrictPhys_CohesionMoment(always_use_moment_law=True, useIncrementalForm=True)],
    ),
    GlobalStiffnessTimeStepper(timestepSafetyCoefficient=0.8),
    PeriTriaxController(label="triax", stressMask=7, goal=(-table.conf, -table.conf, -table.conf),
                        maxStrainRate=(RATE, RATE, RATE), dynCell=True, maxUnbalanced=UNBALANCED,
                        relStressTol=STRESS_TOL, doneHook="consolidated()"),
    NewtonIntegrator(damping=DAMPING),
]

history = {key: [] for key in ("e_x", "e_y", "e_z", "e", "p", "q", "f0", "a_c", "a_n", "a_t", "dt", "numIter")}
targets = list(np.arange(1, int(round(table.max_strain / table.strain_step)) + 1) * table.strain_step)


def consolidated():
    """Isotropic state reached: make it the zero-strain reference, record it, start the axial loading."""
    O.cell.trsf = Matrix3.Identity
    O.cell.velGrad = Matrix3.Zero
    setContactFriction(math.radians(table.mu))
    record(strain=(0.0, 0.0, 0.0))  # triax.strain follows the new reference only from the next step
    triax.stressMask = 3  # x, y stress-controlled (the confinement), z strain-controlled
    triax.globUpdate = 1
    triax.doneHook = "step_reached()"
    next_step()


def next_step():
    triax.goal = Vector3(-table.conf, -table.conf, -targets.pop(0))


def step_reached():
    record()
    if targets:
        next_step()
    else:
        write_output()
        O.pause()


def record(strain=None):
    """Append the current state to ``history`` (compression positive)."""
    s = triax.stress
    e_x, e_y, e_z = strain if strain is not None else -triax.strain
    n = porosity()
    history["e_x"].append(e_x)
    history["e_y"].append(e_y)
    history["e_z"].append(e_z)
    history["e"].append(n / (1 - n))
    history["p"].append(-(s[0] + s[1] + s[2]) / 3)
    history["q"].append(-s[2] + (s[0] + s[1]) / 2)
    f0, a_c, a_n, a_t = contact_statistics()
    history["f0"].append(f0)
    history["a_c"].append(a_c)
    history["a_n"].append(a_n)
    history["a_t"].append(a_t)
    history["dt"].append(O.dt)
    history["numIter"].append(O.iter)


def contact_statistics():
    """Mean normal force and the anisotropies from the contact, normal-force and tangential-force tensors.

    With n the contact normal, F = sum n n, Fn = sum fn n n and Ft = sym(sum ft n) (fn, ft the
    normal and tangential force vectors, so Fn, Ft have the same sign convention), and X_d = X_zz -
    (X_xx + X_yy)/2: a_c = 15/2 F_d / tr F, a_c + a_n = 15/2 Fn_d / tr Fn, a_t = 5 Ft_d / tr Fn.
    """
    fabric, normal, tangential, forces = np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 3)), []
    for contact in O.interactions:
        if not contact.isReal:
            continue
        n = np.array(contact.geom.normal)
        fn = np.array(contact.phys.normalForce)
        ft = np.array(contact.phys.shearForce)
        fabric += np.outer(n, n)
        normal += np.outer(fn, n)
        tangential += (np.outer(ft, n) + np.outer(n, ft)) / 2
        forces.append(np.linalg.norm(fn))
    if not forces:
        return 0.0, 0.0, 0.0, 0.0

    def deviator(x):
        return x[2, 2] - (x[0, 0] + x[1, 1]) / 2

    a_c = 7.5 * deviator(fabric) / np.trace(fabric)
    a_n = 7.5 * deviator(normal) / np.trace(normal) - a_c
    a_t = 5.0 * deviator(tangential) / np.trace(normal)
    return float(np.mean(forces)), float(a_c), float(a_n), float(a_t)


def write_output():
    """``NAME.npy``: the pickled (params, features) pair, through a temporary file and a rename."""
    params = {key: float(getattr(table, key)) for key in ("E", "v", "kr", "eta", "mu")}
    params.update(conf=math.log10(table.conf), mode="drained", num=int(table.num))
    features = {key: [float(x) for x in values] for key, values in history.items()}
    with open(NAME + ".npy.tmp", "wb") as out:
        np.save(out, np.array((params, features), dtype=object), allow_pickle=True)
    os.replace(NAME + ".npy.tmp", NAME + ".npy")


O.run()
waitIfBatch()
