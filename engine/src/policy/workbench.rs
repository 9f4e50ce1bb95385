//! The OPA workbench: compile a `Policy` and run its embedded test cases, for the webhook (reject
//! a policy whose tests fail), the controller (`status`), `gitopshq policy test` and the
//! dashboard's policy page.

use std::sync::Arc;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::policy::{
    Policy, PolicyMessages, PolicyStatus, PolicyTest, PolicyTestFailure, PolicyTestResults,
};
use serde::Serialize;

use super::PolicyEngine;
use super::compile::{CompiledPolicy, package_of_text};
use super::dry_run::PolicyProblem;
use super::error::PolicyError;
use super::evaluate::PolicyOutcome;
use super::release::policy_name;
use crate::conditions::{self, Status};

/// A policy checked: compiled, and its `spec.tests` run.
#[derive(Debug, Clone)]
pub struct PolicyCheck {
    /// Name of the policy.
    pub name: String,
    /// Package of the module; read from the text when it does not compile.
    pub package: Option<String>,
    pub compiled: Result<Arc<CompiledPolicy>, PolicyError>,
    /// Counts and failures, as `status.tests` holds them.
    pub tests: PolicyTestResults,
    /// Every case in `spec.tests` order, passing or not.
    pub cases: Vec<TestCaseReport>,
}

/// One embedded test case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCaseReport {
    pub name: String,
    pub passed: bool,
    /// `expect`, sorted and deduplicated.
    pub expected: PolicyMessages,
    /// What the rules produced.
    pub got: PolicyMessages,
    /// `print()` output of the rules.
    pub prints: Vec<String>,
    /// The evaluation failed (or the policy did not compile) instead of producing messages.
    pub error: Option<PolicyError>,
}

/// The embedded tests as the dashboard's policy page shows them after *Run tests*: the same
/// [`PolicyEngine::check`] the webhook admits a `Policy` by and the controller writes
/// `status.tests` from, every case in `spec.tests` order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TestRun {
    pub policy: String,
    pub package: Option<String>,
    pub compiled: bool,
    /// Why the module does not compile, at its line of `spec.rego`.
    pub problem: Option<PolicyProblem>,
    pub passed: i32,
    pub failed: i32,
    pub cases: Vec<TestCaseResult>,
}

/// One embedded test case, run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct TestCaseResult {
    pub name: String,
    pub passed: bool,
    /// `expect`, sorted and deduplicated.
    pub expected: PolicyMessages,
    pub got: PolicyMessages,
    /// `print()` output of the rules.
    pub prints: Vec<String>,
    /// Why the case failed instead of producing messages (it then never passes).
    pub error: Option<String>,
}

impl PolicyCheck {
    /// The check as [`TestRun`].
    pub fn test_run(&self) -> TestRun {
        TestRun {
            policy: self.name.clone(),
            package: self.package.clone(),
            compiled: self.compiled.is_ok(),
            problem: self.compiled.as_ref().err().map(PolicyProblem::in_rego),
            passed: self.tests.passed,
            failed: self.tests.failed,
            cases: self
                .cases
                .iter()
                .map(|case| TestCaseResult {
                    name: case.name.clone(),
                    passed: case.passed,
                    expected: case.expected.clone(),
                    got: case.got.clone(),
                    prints: case.prints.clone(),
                    error: case.error.as_ref().map(case_error),
                })
                .collect(),
        }
    }

    /// Compiles and every test passes: what the webhook requires to admit a `Policy`.
    pub fn is_ok(&self) -> bool {
        self.compiled.is_ok() && self.tests.failed == 0
    }

    /// A one-line reason for a rejection, naming the first problem and the next step.
    pub fn problem(&self) -> Option<String> {
        if let Err(error) = &self.compiled {
            return Some(error.to_string());
        }
        let case = self.cases.iter().find(|c| !c.passed)?;
        Some(match &case.error {
            Some(error) => format!("policy {} test {:?} failed: {error}", self.name, case.name),
            None => format!(
                "policy {} test {:?} failed: expected deny {:?} and warn {:?}, got deny {:?} and warn {:?}; fix the rule or the test's expect, and run `gitopshq policy test -f <file>`",
                self.name,
                case.name,
                case.expected.deny,
                case.expected.warn,
                case.got.deny,
                case.got.warn
            ),
        })
    }

    /// `Policy.status` with its `Compiled`, `TestsPassed` and `Ready` conditions, set on the
    /// conditions of the status `before` (a transition keeps its time until it changes).
    pub fn status_with_conditions(
        &self,
        before: Option<&PolicyStatus>,
        generation: Option<i64>,
        now: jiff::Timestamp,
    ) -> PolicyStatus {
        let mut status = self.status();
        status.conditions = before.map(|s| s.conditions.clone()).unwrap_or_default();
        let c = &mut status.conditions;
        match &self.compiled {
            Ok(_) => conditions::set(
                c,
                types::COMPILED,
                Status::True,
                reasons::COMPILED,
                "the Rego module compiles",
                generation,
                now,
            ),
            Err(error) => conditions::set(
                c,
                types::COMPILED,
                Status::False,
                reasons::COMPILE_ERROR,
                &error.to_string(),
                generation,
                now,
            ),
        };
        let (passed, failed) = (self.tests.passed, self.tests.failed);
        let tests_message = match self.problem() {
            Some(problem) => problem,
            None => format!("{passed} of {} embedded tests pass", passed + failed),
        };
        let (ok, reason) = if self.is_ok() {
            (Status::True, reasons::TESTS_PASSED)
        } else {
            (Status::False, reasons::TESTS_FAILED)
        };
        conditions::set(
            c,
            types::TESTS_PASSED,
            ok,
            reason,
            &tests_message,
            generation,
            now,
        );
        let ready_reason = if self.compiled.is_err() {
            reasons::COMPILE_ERROR
        } else {
            reason
        };
        conditions::set(
            c,
            types::READY,
            ok,
            ready_reason,
            &tests_message,
            generation,
            now,
        );
        status
    }

    /// `Policy.status` without conditions (the controller adds those).
    pub fn status(&self) -> PolicyStatus {
        PolicyStatus {
            compiled: self.compiled.is_ok(),
            error: self
                .compiled
                .as_ref()
                .err()
                .map(PolicyError::status_message),
            package: self.package.clone(),
            tests: Some(self.tests.clone()),
            conditions: Vec::new(),
        }
    }
}

impl PolicyEngine {
    /// Compiles `policy.spec.rego` and runs `policy.spec.tests` (each test's `input` is the
    /// document the rules see, as is). Test expectations match exactly, in any order.
    pub fn check(&self, policy: &Policy) -> PolicyCheck {
        let name = policy_name(policy);
        let compiled = self.compile(name, &policy.spec.rego);
        let package = match &compiled {
            Ok(c) => Some(c.package().to_string()),
            Err(_) => package_of_text(&policy.spec.rego),
        };
        let cases: Vec<TestCaseReport> = policy
            .spec
            .tests
            .iter()
            .map(|test| match &compiled {
                Ok(c) => self.run_test(c, test),
                Err(error) => TestCaseReport {
                    name: test.name.clone(),
                    passed: false,
                    expected: normalised(&test.expect),
                    got: PolicyMessages::default(),
                    prints: Vec::new(),
                    error: Some(error.clone()),
                },
            })
            .collect();
        let failures: Vec<PolicyTestFailure> = cases
            .iter()
            .filter(|c| !c.passed)
            .map(|c| PolicyTestFailure {
                name: c.name.clone(),
                expected: c.expected.clone(),
                got: c.got.clone(),
                error: c.error.as_ref().map(case_error),
            })
            .collect();
        let tests = PolicyTestResults {
            passed: count(cases.iter().filter(|c| c.passed).count()),
            failed: count(failures.len()),
            failures,
        };
        PolicyCheck {
            name: name.to_string(),
            package,
            compiled,
            tests,
            cases,
        }
    }

    fn run_test(&self, compiled: &CompiledPolicy, test: &PolicyTest) -> TestCaseReport {
        let expected = normalised(&test.expect);
        let input = serde_json::Value::Object(test.input.clone());
        let context = format!("test case {:?}", test.name);
        match self.evaluate_in(compiled, &input, &context) {
            Ok(PolicyOutcome { deny, warn, prints }) => {
                let got = PolicyMessages { deny, warn };
                TestCaseReport {
                    name: test.name.clone(),
                    passed: got == expected,
                    expected,
                    got,
                    prints,
                    error: None,
                }
            }
            Err(error) => TestCaseReport {
                name: test.name.clone(),
                passed: false,
                expected,
                got: PolicyMessages::default(),
                prints: Vec::new(),
                error: Some(error),
            },
        }
    }
}

/// Why a case failed instead of disagreeing, as `status.tests.failures[].error` says it.
fn case_error(error: &PolicyError) -> String {
    match error {
        PolicyError::Compile { .. } => format!(
            "not run: the policy does not compile ({})",
            error.status_message()
        ),
        other => other.to_string(),
    }
}

fn normalised(messages: &PolicyMessages) -> PolicyMessages {
    let sorted = |v: &Vec<String>| {
        let mut v = v.clone();
        v.sort();
        v.dedup();
        v
    };
    PolicyMessages {
        deny: sorted(&messages.deny),
        warn: sorted(&messages.warn),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
