//! The PnP requirements-list editor (MiniportFilterResourceRequirements): any list, any RSS
//! processor set. A list that parses is edited in two passes into exactly the size the first
//! pass computed, the edited list parses again with the same alternatives, and a buffer one
//! byte short is refused, never overrun.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::requirements::{
    AlternativeKind, RequirementsError, RequirementsList, edit_requirements, edited_size,
    write_edited,
};
use vmqnic_fuzz::Reader;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    // Up to 2100 processors (more than the 2047 receive messages a function may get), from a
    // base group, numbered through the groups, with every `step`-th one left out.
    let count = usize::from(r.u16() % 2100);
    let base_group = u16::from(r.u8() % 32);
    let step = usize::from(r.u8()).max(1);
    let processors: Vec<Processor> = (0..count)
        .filter(|i| step == 1 || i % step != 0)
        .map(|i| Processor {
            group: base_group + u16::try_from(i / 64).unwrap(),
            number: u8::try_from(i % 64).unwrap(),
        })
        .collect();
    let input = r.rest();
    let Ok(list) = RequirementsList::parse(input) else { return };
    assert!(list.list_size() <= input.len());
    let size = match edited_size(&list, &processors) {
        Ok(size) => size,
        Err(error) => {
            assert!(matches!(error, RequirementsError::NoProcessors | RequirementsError::TooLarge));
            return;
        }
    };
    let mut out = vec![0u8; size];
    let summary = write_edited(&list, &processors, &mut out).expect("the size pass 1 computed");
    assert_eq!(summary.list_size, size);
    assert!(summary.messages_per_msix_alternative <= 2048, "more than 2048 messages");
    let edited = RequirementsList::parse(&out).expect("the edited list parses");
    assert_eq!(edited.alternative_count(), list.alternative_count());
    assert_eq!(edited.list_size(), size);
    for index in 0..list.alternative_count() {
        match (list.kind(index), edited.kind(index)) {
            (AlternativeKind::MsiX { .. }, AlternativeKind::MsiX { messages }) => {
                assert_eq!(messages, summary.messages_per_msix_alternative);
            }
            (AlternativeKind::MsiX { .. }, other) => {
                panic!("an MSI-X alternative became {other:?}")
            }
            (before, after) => assert_eq!(before, after, "a non-MSI-X alternative changed"),
        }
    }
    if size > 0 {
        let mut short = vec![0u8; size - 1];
        assert!(write_edited(&list, &processors, &mut short).is_err(), "a short buffer taken");
    }
    let (again, _) = edit_requirements(input, &processors).expect("the same edit");
    assert_eq!(again, out, "the one-call edit differs");
});
