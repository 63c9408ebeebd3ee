// @generated automatically by Diesel CLI.

diesel::table! {
    customers (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        name_key -> Text,
        country -> Text,
        industry -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        tax_id_key -> Nullable<Text>,
        web_domain -> Nullable<Text>,
        domain_key -> Nullable<Text>,
        registration -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    opportunities (id) {
        id -> Uuid,
        reference_no -> Int8,
        topic -> Text,
        customer_id -> Uuid,
        contact_name -> Nullable<Text>,
        contact_email -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        contact_title -> Nullable<Text>,
        currency -> Nullable<Text>,
        estimated_revenue -> Nullable<Numeric>,
        expected_close_date -> Nullable<Date>,
        customer_situation -> Nullable<Text>,
        customer_need -> Nullable<Text>,
        proposed_solution -> Nullable<Text>,
        country -> Nullable<Text>,
        industry -> Nullable<Text>,
        product_lines -> Array<Text>,
        marketing_task_id -> Nullable<Uuid>,
        origin -> Text,
        status -> Text,
        owner_org_id -> Uuid,
        owner_user_id -> Uuid,
        primary_partner_id -> Nullable<Uuid>,
        pipeline_phase -> Nullable<Text>,
        win_probability -> Nullable<Int2>,
        accept_by -> Nullable<Timestamptz>,
        expires_on -> Nullable<Date>,
        extension_count -> Int4,
        close_reason -> Nullable<Text>,
        actual_revenue -> Nullable<Numeric>,
        closed_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    opportunity_collaborators (opportunity_id, org_id) {
        opportunity_id -> Uuid,
        org_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    opportunity_events (id) {
        id -> Uuid,
        opportunity_id -> Uuid,
        actor_user_id -> Nullable<Uuid>,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orgs (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Uuid>,
        active -> Bool,
        countries -> Array<Text>,
        industries -> Array<Text>,
        product_lines -> Array<Text>,
        tier -> Text,
        capacity -> Int4,
        accepting -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        subject -> Text,
        org_id -> Uuid,
        role -> Text,
        name -> Text,
        email -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(customers -> orgs (org_id));
diesel::joinable!(opportunities -> customers (customer_id));
diesel::joinable!(opportunities -> users (owner_user_id));
diesel::joinable!(opportunity_collaborators -> opportunities (opportunity_id));
diesel::joinable!(opportunity_collaborators -> orgs (org_id));
diesel::joinable!(opportunity_events -> opportunities (opportunity_id));
diesel::joinable!(opportunity_events -> users (actor_user_id));
diesel::joinable!(users -> orgs (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    customers,
    opportunities,
    opportunity_collaborators,
    opportunity_events,
    orgs,
    users,
);
